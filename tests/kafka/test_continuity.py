"""GapCheck: a gap is read again once, and believed only when it comes back the same."""

from __future__ import annotations

from typing import Any

from streamproc.kafka.continuity import GapCheck


class SeekRecorder:
    def __init__(self) -> None:
        self.seeks: list[tuple[str, int, int]] = []

    def seek(self, tp: Any) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))


def test_a_first_gap_is_read_again_from_the_first_missing_offset() -> None:
    consumer = SeekRecorder()
    check = GapCheck(consumer)
    assert check.accept("t", 0, 10, 15) is False
    assert consumer.seeks == [("t", 0, 10)]


def test_the_same_gap_read_again_is_believed_once() -> None:
    consumer = SeekRecorder()
    check = GapCheck(consumer)
    check.accept("t", 0, 10, 15)
    assert check.accept("t", 0, 10, 15) is True
    assert consumer.seeks == [("t", 0, 10)]
    # Believed once only: the same numbers later (a new gap at the same place after a seek back by
    # someone else) are read again first.
    assert check.accept("t", 0, 10, 15) is False


def test_a_gap_that_changed_on_the_second_read_is_read_again() -> None:
    consumer = SeekRecorder()
    check = GapCheck(consumer)
    check.accept("t", 0, 10, 15)
    assert check.accept("t", 0, 10, 12) is False  # the broker is still appending: not settled yet
    assert check.accept("t", 0, 10, 12) is True
    assert consumer.seeks == [("t", 0, 10), ("t", 0, 10)]


def test_partitions_are_judged_apart_and_forgotten_when_given_up() -> None:
    consumer = SeekRecorder()
    check = GapCheck(consumer)
    check.accept("t", 0, 10, 15)
    assert check.accept("t", 1, 10, 15) is False
    check.forget([("t", 0)])
    assert check.accept("t", 0, 10, 15) is False
    assert check.accept("t", 1, 10, 15) is True
