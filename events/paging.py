"""Paging of list read models: newest first, a page at a time, with an opaque-enough cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class PageQuery(BaseModel):
    """Query parameters of a list route: ``limit`` items older than ``before``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    before: int | None = Field(None, ge=0, description="cursor from the previous page's `next`")


class Page(BaseModel):
    items: list[dict[str, Any]]
    next: int | None = Field(None, description="pass as `before` for the following page")


def sort_key(moment: datetime) -> int:
    """A list item's position: microseconds since the epoch (exact in a Redis score)."""
    return int(moment.timestamp() * 1_000_000)
