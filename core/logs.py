"""Logging for every Hookline process: JSON lines (or readable text) carrying the request context.

The correlation id and the command id live in context variables: the gateway
sets them per request, the worker per task, and a filter copies them onto every
record, so a line logged anywhere below (pymongo, our modules, Celery) carries
them without anyone passing them along.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

from pydantic_settings import BaseSettings, SettingsConfigDict

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "hookline_correlation_id", default=None
)
command_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "hookline_command_id", default=None
)

CONTEXT_FIELDS = ("correlation_id", "command_id")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s"
# Loggers that configure handlers of their own; they are made to use ours.
_FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "flower")
# Attributes every LogRecord has; anything else on a record came from ``extra=``. Uvicorn's
# ``color_message`` and Celery's ``data`` repeat the message, so they are left out too.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "context", "taskName", "color_message", "data", *CONTEXT_FIELDS}
)


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class LogSettings(BaseSettings):
    """``HOOKLINE_LOG_FORMAT`` (json or text) and ``HOOKLINE_LOG_LEVEL``."""

    model_config = SettingsConfigDict(env_prefix="HOOKLINE_", extra="ignore", frozen=True)

    log_format: LogFormat = LogFormat.JSON
    log_level: str = "INFO"


class ContextFilter(logging.Filter):
    """Copies the context variables onto each record (an explicit ``extra=`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in (("correlation_id", correlation_id), ("command_id", command_id)):
            if getattr(record, name, None) is None:
                setattr(record, name, variable.get())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        line.update(_extras(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """The readable format: context and extras appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        pairs = {name: getattr(record, name, None) for name in CONTEXT_FIELDS}
        pairs.update(_extras(record))
        shown = " ".join(f"{k}={v}" for k, v in pairs.items() if v is not None)
        record.context = f"  [{shown}]" if shown else ""
        return super().format(record)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}


def make_handler(log_format: LogFormat) -> logging.StreamHandler[TextIO]:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(settings: LogSettings | None = None) -> None:
    """Send every logger through one handler on the root logger, in the configured format."""
    settings = settings or LogSettings()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(make_handler(settings.log_format))
    root.setLevel(settings.log_level.upper())
    for name in _FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        foreign.handlers.clear()
        foreign.propagate = True
    # httpx logs every request at INFO; pymongo's topology chatter is DEBUG noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@contextlib.contextmanager
def log_context(correlation: str | None = None, command: str | None = None) -> Iterator[None]:
    """Set the correlation and command ids for the lines logged inside the block."""
    tokens = [correlation_id.set(correlation), command_id.set(command)]
    try:
        yield
    finally:
        command_id.reset(tokens[1])
        correlation_id.reset(tokens[0])
