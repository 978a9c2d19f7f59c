"""Counts in messages agree with their nouns."""

from __future__ import annotations

from streamproc.wording import counted


def test_one_is_singular_and_everything_else_plural() -> None:
    assert counted(1, "partition") == "1 partition"
    assert counted(0, "partition") == "0 partitions"
    assert counted(4, "partition") == "4 partitions"
    assert counted(1, "dead letter") == "1 dead letter"
    assert counted(2, "entry", "entries") == "2 entries"
    assert counted(12345, "changelog record", thousands=True) == "12,345 changelog records"
