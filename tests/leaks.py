"""A regression guard: find plaintext credentials anywhere an end-to-end run left them.

Give ``scan`` the secrets a run handled (a label for each, and its plaintext) and it
looks for every one of them in:

- every key of a Redis database (the key names, and the values of every type),
- every document of every collection of a MongoDB database,
- every command the Redis server received while a ``BusRecorder`` ran (MONITOR sees
  the broker's messages, every state write and every Lua script's arguments; the
  base64 bodies of kombu messages are decoded and searched too),
- log files, line by line,
- Flower's task API.

A secret matches in its literal form, JSON-escaped, and base64-encoded at each of the
three byte alignments (standard and URL-safe alphabets), so one inside an undecoded
base64 blob is still found. ``assert_no_leaks`` fails listing every leak. A
``Leak`` never holds the secret: its place and excerpt show ``<label>`` instead.

Usage, around a run on a private stack::

    with BusRecorder(redis_url) as recorder:
        ...  # register, log in, run commands
    assert_no_leaks(secrets, redis_url=redis_url, mongo_url=mongo_url,
                    mongo_db=db_name, logs=[gateway_log, worker_log], recorder=recorder)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote, urlsplit

import httpx
import redis
from bson import json_util
from pymongo import MongoClient
from redis.client import Monitor

from hookline.processes import spawn, terminate
from hookline.stack import (
    METRICS_DIR_ENV,
    StackConfig,
    ensure_local_secrets,
    ensure_redis,
    flower_command,
    flower_env,
    flower_logins,
    secrets_chain,
)
from tests.conftest import RunningStack, running_stack
from tests.stack_fixtures import free_port

# Shorter values would match by accident (and their base64 forms would be a few characters).
MIN_SECRET_CHARS = 8
# What a recorder keeps at most; past it lines are counted, not kept, and the scan is partial.
DEFAULT_MAX_LINES = 200_000
# How long a recorder waits at exit for its own end marker to come through MONITOR.
RECORDER_STOP_TIMEOUT_S = 10.0
# Characters shown either side of a match.
EXCERPT_CONTEXT_CHARS = 40
FLOWER_START_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 10.0
_POLL_S = 0.2
_LOG_TAIL_CHARS = 3000
_REDIS_CHUNK = 1000


@dataclass(frozen=True)
class Leak:
    """A secret found somewhere: which one, where, and what surrounded it (secret masked)."""

    label: str
    place: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.label} in {self.place}: {self.excerpt}"


# -- matching ---------------------------------------------------------------------------------


def secret_forms(value: str) -> tuple[str, ...]:
    """Every form in which ``value`` is searched: literal, JSON-escaped, and base64.

    Base64 forms are those of the value (and of its JSON-escaped forms) preceded by 0, 1
    and 2 bytes, without the characters at either edge that depend on neighbouring bytes,
    in the standard and URL-safe alphabets. Raises ``ValueError`` for a value shorter than
    ``MIN_SECRET_CHARS``.
    """
    if len(value) < MIN_SECRET_CHARS:
        raise ValueError(
            f"a secret of {len(value)} characters would match by accident; "
            f"give one of at least {MIN_SECRET_CHARS}"
        )
    texts = dict.fromkeys(
        [value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]]
    )
    forms = dict.fromkeys(texts)
    for text in texts:
        for shift in range(3):
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                forms[_stable_base64(text.encode(), shift, encode)] = None
    return tuple(form for form in forms if form)


def _stable_base64(raw: bytes, shift: int, encode: Callable[[bytes], bytes]) -> str:
    """The characters of ``raw``'s base64 after ``shift`` bytes that only ``raw`` decides."""
    encoded = encode(bytes(shift) + raw).decode("ascii")
    first = -(-8 * shift // 6)  # the first character holding no bit of the leading bytes
    end = 8 * (shift + len(raw)) // 6  # past the last character made of ``raw``'s bits only
    return encoded[first:end]


class Matcher:
    """Finds the given secrets in text, and writes excerpts with every secret masked."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._forms = {label: secret_forms(value) for label, value in secrets.items()}
        # Longest first, so a form that contains another is masked whole.
        masks = [(form, f"<{label}>") for label, forms in self._forms.items() for form in forms]
        self._masks = sorted(masks, key=lambda mask: len(mask[0]), reverse=True)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self._forms)

    def labels_in(self, text: str) -> list[str]:
        """The labels of the secrets that occur in ``text``, in any of their forms."""
        return [label for label, forms in self._forms.items() if any(f in text for f in forms)]

    def mask(self, text: str) -> str:
        """``text`` with every form of every secret replaced by ``<label>``."""
        for form, replacement in self._masks:
            text = text.replace(form, replacement)
        return text

    def find(self, text: str, place: str) -> list[Leak]:
        """A leak for each secret in ``text``, found at ``place``."""
        return [self._leak(label, text, place) for label in self.labels_in(text)]

    def find_in_bytes(self, raw: bytes, place: str) -> list[Leak]:
        """Like ``find`` on ``raw`` and on what it holds encoded, for each secret the first view.

        The views are, in this order: the bodies of kombu messages in ``raw`` (place
        suffixed ``(decoded body)``, or ``(decoded body of <task name>)`` for a Celery
        task message), ``raw`` as UTF-8, and the strings of ``raw`` parsed
        as JSON (suffixed ``(json)``), where an escaped value appears unescaped.
        """
        leaks: list[Leak] = []
        seen: set[str] = set()
        for suffix, text in text_views(raw):
            for label in self.labels_in(text):
                if label not in seen:
                    seen.add(label)
                    leaks.append(self._leak(label, text, place + suffix))
        return leaks

    def _leak(self, label: str, text: str, place: str) -> Leak:
        return Leak(label, self.mask(place), self._excerpt(label, text))

    def _excerpt(self, label: str, text: str) -> str:
        masked = self.mask(text)
        at = max(masked.find(f"<{label}>"), 0)
        start = max(at - EXCERPT_CONTEXT_CHARS, 0)
        end = at + len(label) + 2 + EXCERPT_CONTEXT_CHARS
        shown = " ".join(masked[start:end].split())
        return ("…" if start else "") + shown + ("…" if end < len(masked) else "")


# -- encoded content --------------------------------------------------------------------------


def text_views(raw: bytes) -> Iterator[tuple[str, str]]:
    """``raw`` as text, with the place suffix of each: decoded kombu bodies, itself, JSON."""
    parsed = _json_or_none(raw)
    for message in kombu_bodies(parsed):
        of = f" of {message.task}" if message.task else ""
        yield f" (decoded body{of})", message.body.decode("utf-8", errors="replace")
    yield "", raw.decode("utf-8", errors="replace")
    if parsed is not None:
        yield " (json)", "\n".join(_json_strings(parsed))


def _json_or_none(raw: bytes) -> Any:
    if raw.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class KombuBody:
    """The decoded body of a kombu message, and the Celery task it runs (``headers.task``)."""

    task: str | None
    body: bytes


def kombu_bodies(value: Any) -> Iterator[KombuBody]:
    """The decoded body of every kombu message in parsed JSON ``value``, at any depth.

    On the Redis transport a message is ``{"body": "<base64>", "headers": {...},
    "properties": {"body_encoding": "base64", ...}, ...}``; the unacked hash holds it
    inside a list, with its exchange and routing key.
    """
    if isinstance(value, dict):
        body = _base64_body(value)
        if body is not None:
            headers = value.get("headers")
            task = headers.get("task") if isinstance(headers, dict) else None
            yield KombuBody(task if isinstance(task, str) else None, body)
        for item in value.values():
            yield from kombu_bodies(item)
    elif isinstance(value, list):
        for item in value:
            yield from kombu_bodies(item)


def _base64_body(message: dict[str, Any]) -> bytes | None:
    properties = message.get("properties")
    body = message.get("body")
    if not isinstance(properties, dict) or properties.get("body_encoding") != "base64":
        return None
    if not isinstance(body, str):
        return None
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


def _json_strings(value: Any) -> Iterator[str]:
    """Every string in parsed JSON ``value``, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


# -- MONITOR lines ----------------------------------------------------------------------------

_MONITOR_LINE = re.compile(rb"(\d+\.\d+) \[(\d+) ([^\]]*)\] (.*)", re.DOTALL)
_MONITOR_ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_MONITOR_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_ESCAPED_CHARS = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}


@dataclass(frozen=True)
class MonitorLine:
    """One command as MONITOR reported it, its arguments unescaped to the bytes sent."""

    time: float
    db: int
    client: str
    args: tuple[bytes, ...]

    @property
    def place(self) -> str:
        """``bus: LPUSH user_management``: the command and its first argument (the key)."""
        shown = [arg.decode("utf-8", errors="replace")[:80] for arg in self.args[:2]]
        if shown:
            shown[0] = shown[0].upper()
        who = " (lua)" if self.client == "lua" else ""
        return f"bus{who}: " + " ".join(shown)


def unescape_monitor_arg(escaped: bytes) -> bytes:
    r"""The bytes of one argument as MONITOR quotes it (``\"``, ``\\``, ``\n``, ``\xNN``…)."""

    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1] == b"x" and len(code) == 3:
            return bytes([int(code[1:], 16)])
        return _ESCAPED_CHARS.get(code, code)

    return _MONITOR_ESCAPE.sub(one, escaped)


def parse_monitor_line(raw: bytes) -> MonitorLine | None:
    """``1700000000.123456 [13 127.0.0.1:5555] "LPUSH" "q" "…"`` parsed; None if not one."""
    match = _MONITOR_LINE.fullmatch(raw)
    if match is None:
        return None
    stamp, db, client, rest = match.groups()
    args = tuple(unescape_monitor_arg(arg) for arg in _MONITOR_ARG.findall(rest))
    return MonitorLine(float(stamp), int(db), client.decode(errors="replace"), args)


def _monitor_db(raw: bytes) -> int | None:
    """The database of a MONITOR line, read without parsing the rest."""
    opening = raw.find(b"[", 0, 40)
    space = raw.find(b" ", opening + 1, opening + 12)
    if opening < 0 or space < 0 or not raw[opening + 1 : space].isdigit():
        return None
    return int(raw[opening + 1 : space])


def redis_db(url: str) -> int:
    """The database number a ``redis://`` URL names (0 when it names none)."""
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


class BusRecorder:
    """Records every command the Redis server receives while it is entered (MONITOR).

    Entering sends MONITOR and returns once the server acknowledged it, so everything
    after the ``with`` line is seen; a background thread then reads the feed into
    memory. Exiting sends an end marker (``ECHO``) and waits until the thread has read
    it, so every command executed before the exit is kept, then closes the connection.

    MONITOR shows every database; only lines of the database ``redis_url`` names are
    kept unless ``all_dbs``. At most ``max_lines`` are kept: past that they are only
    counted (``dropped``), ``overflowed`` is true and ``assert_no_leaks`` fails. If the
    feed broke off before the end marker, exiting raises ``RuntimeError``. A recorder
    is entered once.
    """

    def __init__(
        self, redis_url: str, *, max_lines: int = DEFAULT_MAX_LINES, all_dbs: bool = False
    ) -> None:
        self.redis_url = redis_url
        self.max_lines = max_lines
        self.db = None if all_dbs else redis_db(redis_url)
        self.dropped = 0
        self.error: str | None = None
        self._lines: list[MonitorLine] = []
        self._lock = threading.Lock()
        self._marker = f"leak-recorder-end-{uuid.uuid4().hex}".encode()
        self._client = redis.Redis.from_url(redis_url)
        self._monitor: Monitor | None = None
        self._reader = threading.Thread(target=self._read, name="bus-recorder", daemon=True)

    @property
    def lines(self) -> list[MonitorLine]:
        """The commands kept so far, in the order the server ran them."""
        with self._lock:
            return list(self._lines)

    @property
    def overflowed(self) -> bool:
        return self.dropped > 0

    def __enter__(self) -> BusRecorder:
        try:
            self._client.ping()  # connected now, so its own SELECT is not recorded
            self._monitor = self._client.monitor()  # type: ignore[no-untyped-call]
            self._monitor.__enter__()  # sends MONITOR, reads its OK
        except BaseException:
            self._client.close()
            raise
        self._reader.start()
        return self

    @property
    def _feed(self) -> Monitor:
        assert self._monitor is not None, "the recorder was not entered"
        return self._monitor

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._stop()
        finally:
            self._client.close()
        if kind is None and self.error is not None:
            raise RuntimeError(f"the bus recording is incomplete: {self.error}")

    def _stop(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self._client.echo(self._marker)
        self._reader.join(RECORDER_STOP_TIMEOUT_S)
        if self._reader.is_alive():
            # The marker never came through: unblock the reader by closing its socket.
            self.error = self.error or "the end marker did not come through MONITOR"
            self._feed.connection.disconnect()
            self._reader.join(RECORDER_STOP_TIMEOUT_S)

    def _read(self) -> None:
        try:
            while not self._keep(self._feed.connection.read_response()):
                pass
        except Exception as e:  # whatever stopped it, the recording is incomplete: said at exit
            self.error = self.error or f"MONITOR stopped: {e!r}"
        finally:
            self._feed.__exit__(None, None, None)  # type: ignore[no-untyped-call]

    def _keep(self, raw: Any) -> bool:
        """Keep one MONITOR line; True once the end marker arrived."""
        if not isinstance(raw, bytes) or (self.db is not None and _monitor_db(raw) != self.db):
            return False
        line = parse_monitor_line(raw)
        if line is None:
            return False
        if line.args == (b"ECHO", self._marker):
            return True
        with self._lock:
            if len(self._lines) < self.max_lines:
                self._lines.append(line)
            else:
                self.dropped += 1
        return False


# -- places -----------------------------------------------------------------------------------


def _redis_leaks(matcher: Matcher, redis_url: str) -> Iterator[Leak]:
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(count=_REDIS_CHUNK):
            name = key.decode("utf-8", errors="replace")
            yield from matcher.find_in_bytes(key, f"redis key {name} name")
            kind = cast(bytes, client.type(key)).decode()
            for where, raw in _REDIS_READERS.get(kind, _unreadable)(client, key):
                yield from matcher.find_in_bytes(raw, f"redis key {name} {where}")
    finally:
        client.close()


RedisValues = Iterator[tuple[str, bytes]]


def _string_values(client: redis.Redis, key: bytes) -> RedisValues:
    value = client.get(key)
    if isinstance(value, bytes):
        yield "value", value


def _hash_values(client: redis.Redis, key: bytes) -> RedisValues:
    # Typed as taking str; any key works, and ours are bytes (not all keys are UTF-8).
    for field, value in client.hscan_iter(cast(str, key), count=_REDIS_CHUNK):
        name = field.decode("utf-8", errors="replace")
        yield f"field {name} (name)", field
        yield f"field {name}", value


def _list_values(client: redis.Redis, key: bytes) -> RedisValues:
    start = 0
    while items := cast(list[bytes], client.lrange(key, start, start + _REDIS_CHUNK - 1)):
        for index, item in enumerate(items, start):
            yield f"item {index}", item
        start += len(items)


def _set_values(client: redis.Redis, key: bytes) -> RedisValues:
    for member in client.sscan_iter(key, count=_REDIS_CHUNK):
        yield "member", member


def _sorted_set_values(client: redis.Redis, key: bytes) -> RedisValues:
    for member, _score in client.zscan_iter(key, count=_REDIS_CHUNK):
        yield "member", member


def _stream_values(client: redis.Redis, key: bytes) -> RedisValues:
    for entry_id, fields in cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(key)):
        entry = entry_id.decode()
        for field, value in fields.items():
            name = field.decode("utf-8", errors="replace")
            yield f"entry {entry} field {name} (name)", field
            yield f"entry {entry} field {name}", value


def _unreadable(_client: redis.Redis, _key: bytes) -> RedisValues:
    return iter(())  # a type without a reader here (a module's type), or a key gone meanwhile


_REDIS_READERS: dict[str, Callable[[redis.Redis, bytes], RedisValues]] = {
    "string": _string_values,
    "hash": _hash_values,
    "list": _list_values,
    "set": _set_values,
    "zset": _sorted_set_values,
    "stream": _stream_values,
}


def _mongo_leaks(matcher: Matcher, mongo_url: str, mongo_db: str) -> Iterator[Leak]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    try:
        database = client[mongo_db]
        for collection in sorted(database.list_collection_names()):
            for document in database[collection].find():
                place = f"mongo {mongo_db}.{collection} _id={document.get('_id')}"
                yield from matcher.find_in_bytes(json_util.dumps(document).encode(), place)
    finally:
        client.close()


def _bus_leaks(matcher: Matcher, recorder: BusRecorder) -> Iterator[Leak]:
    for line in recorder.lines:
        for arg in line.args:
            yield from matcher.find_in_bytes(arg, line.place)


def _log_leaks(matcher: Matcher, path: Path) -> Iterator[Leak]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            yield from matcher.find_in_bytes(line.rstrip(b"\r\n"), f"log {path.name}:{number}")


def _flower_leaks(matcher: Matcher, flower_url: str) -> Iterator[Leak]:
    with httpx.Client(base_url=flower_url, timeout=HTTP_TIMEOUT_S) as client:
        listing = _flower_get(client, "/api/tasks")
        yield from matcher.find_in_bytes(listing.content, "flower /api/tasks")
        for task_id in listing.json():
            info = _flower_get(client, f"/api/task/info/{task_id}").json()
            for field, value in info.items():
                text = value if isinstance(value, str) else json.dumps(value)
                yield from matcher.find_in_bytes(text.encode(), f"flower task {task_id} {field}")


def _flower_get(client: httpx.Client, path: str) -> httpx.Response:
    response = client.get(path)
    if response.status_code == 401:
        raise RuntimeError(
            f"Flower refused {path} (401): give its URL with the login in it (flower_process)"
        )
    response.raise_for_status()
    return response


# -- the guard --------------------------------------------------------------------------------


def scan(
    secrets: Mapping[str, str],
    *,
    redis_url: str,
    mongo_url: str,
    mongo_db: str,
    logs: Iterable[Path | str] = (),
    recorder: BusRecorder | None = None,
    flower_url: str | None = None,
) -> list[Leak]:
    """Every place where one of ``secrets`` (label -> plaintext) is found.

    Searches the Redis database ``redis_url`` names, MongoDB database ``mongo_db``,
    what ``recorder`` captured, each file of ``logs`` and Flower's task API at
    ``flower_url``. A leak is reported once per secret and place. Raises ``ValueError``
    for a secret shorter than ``MIN_SECRET_CHARS``.
    """
    matcher = Matcher(secrets)
    found: Iterator[Leak] = _chain(
        _redis_leaks(matcher, redis_url),
        _mongo_leaks(matcher, mongo_url, mongo_db),
        _bus_leaks(matcher, recorder) if recorder is not None else iter(()),
        *(_log_leaks(matcher, Path(path)) for path in logs),
        _flower_leaks(matcher, flower_url) if flower_url is not None else iter(()),
    )
    unique: dict[tuple[str, str], Leak] = {}
    for leak in found:
        unique.setdefault((leak.label, leak.place), leak)
    return list(unique.values())


def _chain(*sources: Iterator[Leak]) -> Iterator[Leak]:
    for source in sources:
        yield from source


def assert_no_leaks(
    secrets: Mapping[str, str],
    *,
    redis_url: str,
    mongo_url: str,
    mongo_db: str,
    logs: Iterable[Path | str] = (),
    recorder: BusRecorder | None = None,
    flower_url: str | None = None,
) -> None:
    """Fail listing every leak ``scan`` finds (label and place), or if the recording overflowed."""
    leaks = scan(
        secrets,
        redis_url=redis_url,
        mongo_url=mongo_url,
        mongo_db=mongo_db,
        logs=logs,
        recorder=recorder,
        flower_url=flower_url,
    )
    problems = [f"{leak.label}: {leak.place}" for leak in leaks]
    if recorder is not None and recorder.overflowed:
        problems.append(
            f"the bus recording kept {recorder.max_lines} lines and dropped "
            f"{recorder.dropped}: what was dropped was not searched"
        )
    if problems:
        raise AssertionError(f"{len(problems)} problem(s):\n" + "\n".join(problems))


# -- Flower -----------------------------------------------------------------------------------


@contextlib.contextmanager
def flower_process(env: Mapping[str, str], port: int, log_path: Path) -> Iterator[str]:
    """Flower on ``127.0.0.1:port`` for the stack ``env`` describes; yields its base URL.

    Started as ``hookline up`` starts it: ``hookline.stack.flower_command``, with the
    ``flower_basic_auth`` login of the stack's secrets chain in its environment
    (``flower_env``; ``ensure_local_secrets`` makes one). The URL carries that login
    (``http://user:password@127.0.0.1:port``), which httpx sends as basic auth; without
    it every page and API call is a 401. Returns once ``GET /api/tasks`` answers 200 (at
    most ``FLOWER_START_TIMEOUT_S``); stopped on exit; its output goes to ``log_path``.

    Flower only knows the tasks it saw events for, and it must be listening when they
    are sent. Workers send task events once Flower enables them (it broadcasts
    ``enable_events`` when it starts and every few seconds after, to every worker on the
    broker; ``FLOWER_ENABLE_EVENTS=false`` in ``env`` stops that), or from the start when
    they run with ``HOOKLINE_TASK_EVENTS=true``, which also makes publishers (the
    gateway) send a ``task-sent`` event for each command.
    """
    # As ``hookline up`` runs it: not writing into the worker's metrics directory.
    own_env = {name: value for name, value in env.items() if name != METRICS_DIR_ENV}
    logins = flower_logins(secrets_chain(StackConfig.from_env(env), env))
    with log_path.open("wb") as output:
        process = spawn(flower_command(port), flower_env(own_env, logins), output=output)
    try:
        user, _, password = logins.split(",")[0].partition(":")
        url = f"http://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}"
        _await_flower(url, process.poll, log_path)
        yield url
    finally:
        terminate(process)


def _await_flower(url: str, exit_code: Callable[[], int | None], log_path: Path) -> None:
    deadline = time.monotonic() + FLOWER_START_TIMEOUT_S
    status = None
    while time.monotonic() < deadline and exit_code() is None and status != 401:
        with contextlib.suppress(httpx.HTTPError):
            status = httpx.get(f"{url}/api/tasks", timeout=1).status_code
            if status == 200:
                return
        time.sleep(_POLL_S)
    state = "exited" if exit_code() is not None else f"answered {status}"
    tail = log_path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
    where = url.rsplit("@", 1)[-1]  # not the login
    raise RuntimeError(f"Flower {state} at {where}/api/tasks:\n{tail}")


__all__: Sequence[str] = (
    "DEFAULT_MAX_LINES",
    "MIN_SECRET_CHARS",
    "BusRecorder",
    "KombuBody",
    "Leak",
    "Matcher",
    "MonitorLine",
    "assert_no_leaks",
    "flower_process",
    "kombu_bodies",
    "parse_monitor_line",
    "redis_db",
    "scan",
    "secret_forms",
    "text_views",
    "unescape_monitor_arg",
    "watched_stack",
)


@contextlib.contextmanager
def watched_stack(
    stack_env: Mapping[str, str], root: Path, **settings: str
) -> Iterator[tuple[RunningStack, str]]:
    """A private worker and gateway on a Redis of their own (broker and state), sending task
    events from the start, and Flower watching them; ``settings`` go into their environment."""
    data_dir = root / "data"
    data_dir.mkdir()
    ensure_local_secrets(data_dir)
    # A Redis of its own: its worker must not take the session stack's messages.
    own_redis = ensure_redis(f"redis://127.0.0.1:{free_port()}/0", data_dir)
    env = {
        **stack_env,
        "REDIS_URL": own_redis.url,
        "BROKER_URL": own_redis.url,
        "HOOKLINE_DATA_DIR": str(data_dir),  # its own secrets and worker metrics
        "HOOKLINE_MONGO_DB": f"leakguard_{uuid.uuid4().hex[:8]}",
        "HOOKLINE_WORKER_METRICS_PORT": str(free_port()),
        "HOOKLINE_TASK_EVENTS": "true",
        **settings,
    }
    logs = root / "logs"
    logs.mkdir()
    try:
        with (
            running_stack(env, logs) as stack,
            flower_process(env, free_port(), logs / "flower.log") as flower_url,
        ):
            yield stack, flower_url
    finally:
        own_redis.stop()
        client: MongoClient[dict[str, Any]] = MongoClient(env["MONGO_URL"])
        client.drop_database(env["HOOKLINE_MONGO_DB"])
        client.close()
