"""In-process hook dispatch: one event to ten hooks, Hookline's registry against pluggy.

Both sides call ten bound methods that do nothing, so what is timed is the
dispatch machinery alone. Timing is ``timeit``-style: the best of several
repeats of many calls, reported per call.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from dataclasses import dataclass

import pluggy
from pydantic import BaseModel

from events import Event, EventCatalogue, EventSink, EventSpec, HookRegistry, Received

PROJECT = "hookline_bench"
EVENT = "probe_done"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class _Payload(BaseModel):
    value: int = 0


class _Sink:
    def emit(self, name: str, payload: object) -> Event:
        raise NotImplementedError("the benchmark's hooks emit nothing")


class _Spec:
    @hookspec
    def probe_done(self, event: Event, sink: EventSink) -> None:
        """The event every plugin implements."""


class _Plugin:
    @hookimpl
    def probe_done(self, event: Event, sink: EventSink) -> None:
        return None


class _Orchestrator:
    def on_done(self, event: Received[_Payload], sink: EventSink) -> None:
        return None


@dataclass(frozen=True)
class DispatchTiming:
    hookline_s: float
    pluggy_s: float
    hooks: int


def hookline_call(hooks: int) -> Callable[[], None]:
    """One ``HookRegistry.dispatch`` of an event with ``hooks`` hooks, ready to call."""
    registry = HookRegistry(EventCatalogue((EventSpec(EVENT, _Payload),)))
    for n in range(hooks):
        registry.register(EVENT, _Orchestrator().on_done, module=f"m{n}", handler_name="on_done")
    event, sink = _event(), _Sink()
    return lambda: registry.dispatch(event, sink)


def pluggy_call(hooks: int) -> Callable[[], None]:
    """One pluggy hook call with ``hooks`` implementations, ready to call."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(_Spec)
    for n in range(hooks):
        manager.register(_Plugin(), name=f"p{n}")
    event, sink = _event(), _Sink()
    caller = manager.hook.probe_done
    return lambda: caller(event=event, sink=sink)


def best_per_call_s(call: Callable[[], None], number: int, repeat: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number


def measure(hooks: int = 10, number: int = 20_000, repeat: int = 7) -> DispatchTiming:
    """Per-call time of each, interleaved so a burst of load hits both alike."""
    ours, theirs = hookline_call(hooks), pluggy_call(hooks)
    hookline_s, pluggy_s = float("inf"), float("inf")
    for _ in range(repeat):
        hookline_s = min(hookline_s, best_per_call_s(ours, number, 1))
        pluggy_s = min(pluggy_s, best_per_call_s(theirs, number, 1))
    return DispatchTiming(hookline_s, pluggy_s, hooks)


def _event() -> Event:
    return Event(id="e", name=EVENT, correlation_id="c", causation_id="c", command_id="c")
