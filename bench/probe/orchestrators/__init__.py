"""Orchestrators for the benchmark's module packages (``<package>.<module name>``)."""
