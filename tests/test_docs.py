"""Generated documents stay in step with the code."""

from pathlib import Path

from rooms.diagram import markdown

ROOT = Path(__file__).resolve().parents[1]


def test_state_machine_doc_is_current() -> None:
    doc = (ROOT / "docs" / "state-machines.md").read_text()
    assert markdown().strip() in doc, "regenerate docs/state-machines.md (see its header)"
