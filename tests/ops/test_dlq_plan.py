"""Which dead letters a re-drive picks, and how far the DLQ group offset may then move."""

from __future__ import annotations

from streamproc.ops.dlq import DeadLetter, plan_redrive


def letter(offset: int, error: str, partition: int = 0) -> DeadLetter:
    return DeadLetter(partition, offset, 0, b"k", b"v", [], error, "ValueError", "bolt", "in", 0, offset, 0)


def test_everything_matching_moves_the_offset_to_the_end() -> None:
    plan = plan_redrive([letter(5, "x"), letter(6, "y")], set(), {0: 5}, None)
    assert [x.offset for x in plan.letters] == [5, 6]
    assert plan.new_offsets == {0: 7}


def test_the_offset_stops_at_the_first_letter_left_pending() -> None:
    letters = [letter(0, "bad json"), letter(1, "negative"), letter(2, "bad json"), letter(3, "negative")]
    plan = plan_redrive(letters, set(), {}, "NEGATIVE")
    assert [x.offset for x in plan.letters] == [1, 3]
    assert plan.passed_over == 2
    assert plan.new_offsets == {}  # offset 0 is still pending

    again = plan_redrive(letters, {(0, 1), (0, 3)}, {}, None)  # the ledger names 1 and 3
    assert [x.offset for x in again.letters] == [0, 2]
    assert again.already == 2
    assert again.new_offsets == {0: 4}


def test_partitions_are_tracked_apart() -> None:
    letters = [letter(0, "timeout", partition=0), letter(0, "bad json", partition=1),
               letter(1, "timeout", partition=1)]
    plan = plan_redrive(letters, set(), {0: 0, 1: 0}, "timeout")
    assert plan.new_offsets == {0: 1, 1: 0}


def test_filter_matches_error_text_and_type_case_blind() -> None:
    x = letter(0, "Negative amount -3")
    assert x.matches(None) and x.matches("negative AMOUNT") and x.matches("valueerror")
    assert not x.matches("timeout")
