"""The probe: the smallest real module, loaded only by the benchmark.

A worker or gateway loads it with ``HOOKLINE_MODULE_PACKAGES=bench.probe.modules``
and ``HOOKLINE_ORCHESTRATOR_PACKAGES=bench.probe.orchestrators``; production
settings never name these packages.
"""

MODULE_PACKAGE = "bench.probe.modules"
ORCHESTRATOR_PACKAGE = "bench.probe.orchestrators"
WORK_PATH = "/probe/work"

__all__ = ["MODULE_PACKAGE", "ORCHESTRATOR_PACKAGE", "WORK_PATH"]
