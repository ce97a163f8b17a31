"""docs/clients.md shows what the client does: its examples run against the real stack."""

from __future__ import annotations

import pytest

from tests.conftest import RunningStack
from tests.e2e.client_helpers import run_doc_examples

pytestmark = pytest.mark.e2e


def test_the_clients_doc_examples_run(stack: RunningStack) -> None:
    """Every example but the lifecycle ones runs, in order, and its asserts hold."""
    assert run_doc_examples(stack, lifecycle=False) > 0
