"""The harness's worked example in docs/modules.md is a test that runs: the docs show
``tests/harness/test_retries_example.py`` verbatim."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "harness" / "test_retries_example.py"


def test_docs_show_the_retries_example_verbatim() -> None:
    block = f"```python\n{EXAMPLE.read_text()}```"
    assert block in (ROOT / "docs" / "modules.md").read_text()
