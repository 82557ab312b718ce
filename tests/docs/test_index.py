"""docs/README.md lists every guide in docs/, and every guide it lists exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LISTED = re.compile(r"^\| \[([\w.-]+\.md)\]\(([\w.-]+\.md)\) \|", re.MULTILINE)


def test_index_lists_every_guide_and_only_guides_that_exist() -> None:
    """The index's table names each docs/*.md but itself once, each link matching its text."""
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    rows = _LISTED.findall(index)
    assert all(text == target for text, target in rows), rows
    listed = [target for _, target in rows]
    guides = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name != "README.md")
    assert sorted(listed) == guides
    assert len(set(listed)) == len(listed)
