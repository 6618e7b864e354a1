"""docs/benchmarks.md is shared by several benchmarks: each owns one marked section."""

from __future__ import annotations

from pathlib import Path

from bench.common import pct

__all__ = ["DOC", "pct", "replace_section"]  # pct lives in bench.common; kept importable here
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(begin: str, end: str, section: str, doc: Path = DOC) -> None:
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) in place of the
    previous one, or append it; the rest of the document is left untouched."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    doc.write_text(text)

