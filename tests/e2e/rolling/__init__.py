"""A test-only module whose event is at version 2, for the rolling-deploy test.

A worker loads it with ``HOOKLINE_MODULE_PACKAGES=tests.e2e.rolling.modules`` and
``HOOKLINE_ORCHESTRATOR_PACKAGES=tests.e2e.rolling.orchestrators``.
"""

MODULE_PACKAGE = "tests.e2e.rolling.modules"
ORCHESTRATOR_PACKAGE = "tests.e2e.rolling.orchestrators"

__all__ = ["MODULE_PACKAGE", "ORCHESTRATOR_PACKAGE"]
