"""Fault-test fixtures: a private stack per test, and figures printed after the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.faults.harness import FaultStack

FIGURES = "fault_figures"
StackFactory = Callable[..., FaultStack]


@pytest.fixture
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFactory]:
    """Builds a started private stack (broker URL and settings may be given); closes it after."""
    stacks: list[FaultStack] = []

    def build(broker_url: str | None = None, **settings: str) -> FaultStack:
        stack = FaultStack(tmp_path_factory.mktemp("fault"), broker_url, settings)
        stacks.append(stack)
        stack.start()
        return stack

    yield build
    for stack in stacks:
        stack.close()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record a test's measurements; they are printed in the summary whatever the capture."""

    def record(**values: object) -> None:
        for name, value in values.items():
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            request.node.user_properties.append((FIGURES, f"{name}={shown}"))

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.getreports(outcome):
            shown = [value for key, value in report.user_properties if key == FIGURES]
            if shown and report.when == "call":
                lines.append(f"{report.nodeid} [{outcome}]: " + ", ".join(map(str, shown)))
    if lines:
        terminalreporter.write_sep("-", "fault test figures")
        for line in lines:
            terminalreporter.write_line(line)
