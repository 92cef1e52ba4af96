"""Atomic file replacement: the old file or the new one, never a mix or a leftover temp file."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from feature_platform.files import atomic_write


def test_a_replacement_is_all_or_nothing_across_a_group_of_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text("old")
    with pytest.raises(RuntimeError), ExitStack() as stack:
        stack.enter_context(atomic_write(first)).write_text("new")
        stack.enter_context(atomic_write(second)).write_text("new")
        assert first.read_text() == "old" and not second.exists()  # nothing renamed yet
        raise RuntimeError("failed before the group was complete")
    assert first.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    with atomic_write(first) as tmp:
        tmp.write_text("new")
    assert first.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
