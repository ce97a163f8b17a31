"""Serial lines: commands with one serial key run one at a time, in acceptance order.

A route that declares ``serialize_by`` gives its commands a serial key
(``events.serial``). Each key has a line in Redis (``keys.serial_line``): a list
of command hash keys in the order they joined. The rules:

- **Join.** A command joins the tail of its line when it is accepted: the gateway's
  ``publishing → accepted`` runs ``JOIN_LUA`` in the same script, so a refused command
  never joins and the line's order is the acceptance order. (A dead command replayed by
  an operator is not in its line any more; it joins at the tail when its message comes.)
- **Turn.** A worker that takes a serialized command asks for its turn before starting
  it (``SerialLines.take_turn``): heads that are finished (or whose hash is gone) are
  popped; if the head is this command it runs, else it is *parked*: its message is kept
  in its hash, the line noted in ``keys.SERIAL_WAITING``, and the broker's message
  acknowledged (nothing polls meanwhile). The start of a run checks the turn again in its
  own script (``holds_turn``): a command seen unconfirmed when it asked, and confirmed
  behind another since, is sent back to ask again (``NotYourTurn``).
- **Wake.** When a serialized command ends (succeeded, failed, dead, cancelled, expired),
  the same script that records the end (``core.command_state``) removes it from its line
  and pops finished heads; if the new head is parked, its message is returned, marked
  woken, and sent through the process's ``Sender`` (noted in the message ledger). A
  command that retries keeps its turn: ``retrying`` is not finished.
- **Healing.** A worker that dies after the end was recorded but before the woken message
  was sent leaves a parked head marked woken; a head may also end without the script
  (its hash expired). The redelivery sweep (``workers.redelivery``) wakes, in every line
  of ``SERIAL_WAITING``, a head that is parked and not woken within ``grace_s``, popping
  finished heads first.

Bounds: a line holds the caller's commands not yet popped, so about their in-flight cap
(``HOOKLINE_MAX_COMMANDS_IN_FLIGHT``) plus finished ones that wait behind an unfinished
head to be popped; each look at a line pops finished heads, so its cost is that of the
heads it pops. Commands without a serial key never touch any of this.

The scripts read the hashes of the commands in a line by the keys the line holds, like
``api_gateway.in_flight`` does: a standalone Redis allows it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import cast

import redis

from core import keys, scripts
from core.redelivery import SentMessage
from core.sender import Sender
from events import TERMINAL, Command

log = logging.getLogger(__name__)

# The statuses after which a command holds no turn, as the scripts match them.
_FINISHED = "," + ",".join(sorted(TERMINAL)) + ","
# Hash fields of a parked command: its message, and when it was last woken (epoch s).
PARKED_FIELD = "parked"
WOKEN_FIELD = "woken_at"
# Hash field: the key of the command's line (``keys.serial_line``), set when recorded.
LINE_FIELD = "serial_line"
# The statuses in which a command may take its turn; any other is for ``start`` to judge.
_MAY_RUN = ("accepted", "retrying", "running")

# ``join_line(hash, ttl)``: the command at ``hash`` joins the tail of its line, if it has
# one; the line's key, or false. For every script that accepts a command.
JOIN_LUA = f"""
local function join_line(hash, ttl)
  local line = redis.call('HGET', hash, '{LINE_FIELD}')
  if not line then return false end
  redis.call('RPUSH', line, hash)
  redis.call('EXPIRE', line, ttl)
  return line
end
"""

# ``pop_finished(line)``: pop heads whose command is finished (TERMINAL) or gone; the head
# left, or false for an empty line. ``holds_turn(hash)``: false when the command has a line
# whose head is another command (the start of a run checks it, see ``core.command_state``).
TURN_LUA = f"""
local function pop_finished(line)
  while true do
    local head = redis.call('LINDEX', line, 0)
    if not head then return false end
    local status = redis.call('HGET', head, 'status')
    if status and not string.find('{_FINISHED}', ',' .. status .. ',', 1, true) then
      return head
    end
    redis.call('LPOP', line)
  end
end

local function holds_turn(hash)
  local line = redis.call('HGET', hash, '{LINE_FIELD}')
  return not line or pop_finished(line) == hash
end
"""

# ``wake_line(line, ended, now, grace, waiting)``: remove ``ended`` (a hash key, or false)
# from ``line``, pop finished heads, and if the head is parked and was not woken within
# ``grace`` seconds, mark it woken and return its message (else false). A line with
# nothing parked in it leaves the ``waiting`` set; one still waiting moves to its back.
WAKE_LUA = (
    TURN_LUA
    + f"""
local function wake_line(line, ended, now, grace, waiting)
  if ended then redis.call('LREM', line, 1, ended) end
  local head = pop_finished(line)
  if not head then
    redis.call('ZREM', waiting, line)
    return false
  end
  redis.call('ZADD', waiting, 'XX', now, line)
  local parked = redis.call('HGET', head, '{PARKED_FIELD}')
  if not parked then
    if redis.call('LLEN', line) == 1 then redis.call('ZREM', waiting, line) end
    return false
  end
  local woken = tonumber(redis.call('HGET', head, '{WOKEN_FIELD}') or '')
  if woken and now - woken < grace then return false end
  redis.call('HSET', head, '{WOKEN_FIELD}', now)
  return parked
end
"""
)

# KEYS: hash, line, waiting set. ARGV: the message in hand (JSON), now, line ttl. 1: its
# turn, or a status for ``start`` to judge (unconfirmed, finished, unknown); 0: parked.
_TURN = (
    TURN_LUA
    + f"""
local status = redis.call('HGET', KEYS[1], 'status')
local may_run = {{{", ".join(f"{s}=true" for s in _MAY_RUN)}}}
if not status or not may_run[status] then return 1 end
if not redis.call('LPOS', KEYS[2], KEYS[1]) then
  redis.call('RPUSH', KEYS[2], KEYS[1])
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
if pop_finished(KEYS[2]) == KEYS[1] then
  redis.call('HDEL', KEYS[1], '{PARKED_FIELD}', '{WOKEN_FIELD}')
  return 1
end
redis.call('HSET', KEYS[1], '{PARKED_FIELD}', ARGV[1])
redis.call('HDEL', KEYS[1], '{WOKEN_FIELD}')
redis.call('ZADD', KEYS[3], ARGV[2], KEYS[2])
return 0
"""
)

# KEYS: line, waiting set. ARGV: the ended command's hash key (or ''), now, grace. The
# woken head's message, or false.
_WAKE = (
    WAKE_LUA
    + """
local ended = ARGV[1] ~= '' and ARGV[1] or false
return wake_line(KEYS[1], ended, tonumber(ARGV[2]), tonumber(ARGV[3]), KEYS[2])
"""
)


class SerialLines:
    """Turns, parking and waking for commands with a serial key (see the module's doc)."""

    def __init__(
        self, client: redis.Redis, sender: Sender | None, ttl_s: int, grace_s: float
    ) -> None:
        """``sender`` sends woken messages (None: they wait for a sweep that has one);
        ``grace_s``: how long a woken head may take to start before it is woken again."""
        self._redis = client
        self._sender = sender
        self._ttl_s = ttl_s
        self.grace_s = grace_s
        self._turn = client.register_script(_TURN)
        self._wake = client.register_script(_WAKE)

    def take_turn(self, command: Command, message: SentMessage) -> bool:
        """True when ``command`` may go on to start; False when it was parked (with
        ``message``, sent again when its turn comes): acknowledge the message in hand."""
        if command.serial_key is None:
            return True
        line = keys.serial_line(command.serial_key)
        go = self._turn(
            keys=[keys.command(command.id), line, keys.SERIAL_WAITING],
            args=[message.model_dump_json(), _now(), self._ttl_s],
        )
        return bool(go)

    def wake(self, command: Command) -> None:
        """``command`` ended without its end waking the next (a message of a command already
        finished was dropped): take it out of its line and wake the next."""
        if command.serial_key is None:
            return
        raw = self._wake_line(keys.serial_line(command.serial_key), keys.command(command.id))
        self.resume([raw] if raw is not None else [])

    def resume(self, raw_messages: Sequence[str]) -> int:
        """Send the messages of woken commands; a failure is logged, and the sweep sends
        them again after ``grace_s``. How many were sent."""
        messages = [_resent(raw) for raw in raw_messages]
        if not messages or self._sender is None:
            return 0
        try:
            self._sender.send(messages)
        except Exception as e:  # the end is recorded; the sweep heals the line later
            log.warning("woken commands not sent (%s); the sweep sends them later", e)
            return 0
        return len(messages)

    def sweep(self, limit: int) -> int:
        """Wake the lines, least recently looked at first, whose head is parked and not
        woken lately; how many commands were woken."""
        lines = cast(list[str], self._redis.zrange(keys.SERIAL_WAITING, 0, limit - 1))
        calls = [
            scripts.Call(self._wake, [line, keys.SERIAL_WAITING], ["", _now(), self.grace_s])
            for line in lines
        ]
        woken = [raw for raw in scripts.run_all(self._redis, calls) if raw]
        for raw in woken:
            log.warning("serial line woken by the sweep: %s", _resent(raw).task_id)
        return self.resume(woken)

    def _wake_line(self, line: str, ended: str) -> str | None:
        raw = self._wake(keys=[line, keys.SERIAL_WAITING], args=[ended, _now(), self.grace_s])
        return cast(str | None, raw) or None


def _resent(raw: str) -> SentMessage:
    """A parked message, due now."""
    return SentMessage.model_validate_json(raw).model_copy(update={"due": time.time()})


def _now() -> str:
    return f"{time.time():.3f}"
