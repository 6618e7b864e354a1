"""docs/protocol.md is generated from the registry and must match the code."""

from pathlib import Path

from signaling.protocol_doc import document
from signaling.service import Signaling, build_registry

ROOT = Path(__file__).resolve().parents[2]


def test_protocol_doc_is_current() -> None:
    assert (ROOT / "docs" / "protocol.md").read_text() == document(), (
        "docs/protocol.md is stale: run `.venv/bin/python -m signaling.protocol_doc "
        "> docs/protocol.md`")


def test_every_event_is_documented_with_a_schema() -> None:
    registry = build_registry(Signaling(rooms=None, chat=None, outbox=None))  # type: ignore[arg-type]
    doc = (ROOT / "docs" / "protocol.md").read_text()
    assert len(registry.events) >= 28
    for name, spec in registry.events.items():
        assert f"| `{name}` |" in doc
        assert spec.summary, name
        assert spec.payload.model_config.get("extra") == "forbid", name
