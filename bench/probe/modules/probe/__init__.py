"""Probe: one store write and one event with one hook per command."""

from bench.probe.modules.probe.module import (
    ProbeDone,
    ProbeItem,
    ProbeModule,
    ProbeReceipt,
    ProbeRequest,
    ProbeResult,
)

__all__ = ["ProbeDone", "ProbeItem", "ProbeModule", "ProbeReceipt", "ProbeRequest", "ProbeResult"]
