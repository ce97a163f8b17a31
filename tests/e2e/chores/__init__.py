"""A test-only module with a cancellable route, for the lifecycle tests.

A stack loads it beside the reference modules with
``HOOKLINE_MODULE_PACKAGES=modules,tests.e2e.chores.modules`` and
``HOOKLINE_ORCHESTRATOR_PACKAGES=workers.orchestrators,tests.e2e.chores.orchestrators``.
"""

MODULE_PACKAGE = "tests.e2e.chores.modules"
ORCHESTRATOR_PACKAGE = "tests.e2e.chores.orchestrators"

__all__ = ["MODULE_PACKAGE", "ORCHESTRATOR_PACKAGE"]
