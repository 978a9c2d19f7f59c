"""Which origins a re-drive picks, how copies of one input group, and how far the DLQ group offset may move."""

from __future__ import annotations

from streamproc.ops.dlq import DeadLetter, Ledger, group, plan_redrive, selector, status_of
from streamproc.runtime.dedupe import ORIGIN_HEADER
from streamproc.runtime.redrive import REDRIVE_HEADER


def letter(offset: int, error: str, partition: int = 0, origin: int | None = None,
           headers: list[tuple[str, bytes | None]] | None = None, topic: str = "in") -> DeadLetter:
    """A dead letter at DLQ ``offset``; its input origin is in[0]@``origin`` (default: the same number)."""
    return DeadLetter(partition, offset, 0, b"k", b"v", headers or [], error, "ValueError", "bolt", topic, 0,
                      offset if origin is None else origin, 0)


def every(_: DeadLetter) -> bool:
    return True


def test_everything_matching_moves_the_offset_to_the_end() -> None:
    plan = plan_redrive([letter(5, "x"), letter(6, "y")], Ledger(), {0: 5}, every)
    assert [x.offset for x in plan.letters] == [5, 6]
    assert plan.new_offsets == {0: 7}


def test_the_offset_stops_at_the_first_letter_left_pending() -> None:
    letters = [letter(0, "bad json"), letter(1, "negative"), letter(2, "bad json"), letter(3, "negative")]
    plan = plan_redrive(letters, Ledger(), {}, selector("NEGATIVE"))
    assert [x.offset for x in plan.letters] == [1, 3]
    assert plan.passed_over == 2
    assert plan.new_offsets == {}  # offset 0 is still pending

    ledger = Ledger(origins={"in[0]@1": "re-driven", "in[0]@3": "re-driven"})
    again = plan_redrive(letters, ledger, {}, every)
    assert [x.offset for x in again.letters] == [0, 2]
    assert again.already == 2
    assert again.new_offsets == {0: 4}


def test_partitions_are_tracked_apart() -> None:
    letters = [letter(0, "timeout", partition=0), letter(0, "bad json", partition=1, origin=10),
               letter(1, "timeout", partition=1)]
    plan = plan_redrive(letters, Ledger(), {0: 0, 1: 0}, selector("timeout"))
    assert plan.new_offsets == {0: 1, 1: 0}


def test_filter_matches_error_text_and_type_case_blind() -> None:
    x = letter(0, "Negative amount -3")
    assert x.matches(None) and x.matches("negative AMOUNT") and x.matches("valueerror")
    assert not x.matches("timeout")


def test_copies_of_one_input_are_one_origin_re_driven_once() -> None:
    # in[0]@7 failed three times (a crash, a replay), in[0]@9 once
    letters = [letter(0, "bad", origin=7), letter(1, "bad", origin=9), letter(2, "bad", origin=7),
               letter(3, "bad", origin=7)]
    plan = plan_redrive(letters, Ledger(), {}, every)
    assert [(o.id, len(o.letters)) for o in plan.origins] == [("in[0]@7", 3), ("in[0]@9", 1)]
    assert [x.offset for x in plan.letters] == [0, 1]  # the first copy of each is re-driven
    assert plan.copies == 4 and plan.new_offsets == {0: 4}

    # a copy dead-lettered after its origin was re-driven is dealt with already
    later = plan_redrive([*letters, letter(4, "bad", origin=9)], Ledger(origins={"in[0]@7": "re-driven",
                                                                                 "in[0]@9": "skipped"}), {}, every)
    assert later.origins == [] and later.already == 5 and later.new_offsets == {0: 5}


def test_records_of_an_internal_topic_group_by_their_upstream_origin() -> None:
    internal = "t-count-repartition"
    a = letter(0, "bad", origin=3, topic=internal, headers=[(ORIGIN_HEADER, b"in:1:40:0")])
    b = letter(1, "bad", origin=8, topic=internal, headers=[(ORIGIN_HEADER, b"in:1:40:0")])  # after a replay
    c = letter(2, "bad", origin=3, topic=internal, headers=[(ORIGIN_HEADER, b"in:1:41:0")])
    assert [(o.id, len(o.letters)) for o in group([a, b, c])] == [(f"{internal}<-in:1:40:0", 2),
                                                                  (f"{internal}<-in:1:41:0", 1)]


def test_status_comes_from_the_ledger_or_an_older_group_offset() -> None:
    [origin] = group([letter(4, "x")])
    assert status_of(origin, Ledger(), {}) == "pending"
    assert status_of(origin, Ledger(), {0: 5}) == "re-driven"  # below the group offset, before origin ledgers
    assert status_of(origin, Ledger(positions={(0, 4)}), {}) == "re-driven"  # an older ledger, by DLQ position
    assert status_of(origin, Ledger(origins={"in[0]@4": "skipped"}), {0: 5}) == "skipped"


def test_selection_by_dlq_offsets_and_the_root_a_copy_names() -> None:
    letters = [letter(n, "x") for n in range(6)]
    plan = plan_redrive(letters, Ledger(), {}, selector(None, (2, 3)))
    assert [x.offset for x in plan.letters] == [2, 3] and plan.new_offsets == {}

    assert letter(0, "x", origin=12).root == b"in:0:12"
    copy = letter(1, "x", origin=30, headers=[(REDRIVE_HEADER, b"in:0:12")])  # a re-driven copy that failed again
    assert copy.root == b"in:0:12" and copy.origin_id == "in[0]@30"
