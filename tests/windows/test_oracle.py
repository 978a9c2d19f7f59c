"""The brute-force oracle (tests/windows/oracle.py) on cases computed by hand, so that it can be trusted as a judge."""

from __future__ import annotations

from typing import Any

from tests.windows import oracle
from tests.windows.oracle import Event, Outcome


def times(outcome_windows: dict[Any, list[Event]]) -> dict[Any, list[int]]:
    """Each window's records as their event times, in arrival order."""
    return {window: [r.time for r in records] for window, records in outcome_windows.items()}


def run(rows: list[tuple[str, int]]) -> list[Event]:
    return oracle.events((key, f"{key}{time}", time) for key, time in rows)


def test_tumbling_accepts_within_grace_and_routes_the_rest_to_late() -> None:
    records = run([("a", 1), ("a", 12), ("b", 3), ("a", 9), ("a", 20), ("a", 4), ("a", 14)])
    outcome = oracle.tumbling(records, size=10, grace=5)
    # a@9 arrives at stream time 12: [0,10) closes at 15, so it is accepted; a@4 arrives at 20: closed, late.
    assert times(outcome.finals) == {("a", 0, 10): [1, 9], ("b", 0, 10): [3]}
    assert times(outcome.still_open) == {("a", 10, 20): [12, 14], ("a", 20, 30): [20]}
    assert [r.time for r in outcome.late] == [4]
    assert outcome.stream_time == 20
    later = oracle.tumbling(records, size=10, grace=5, advance_to=35)
    assert times(later.finals) == {("a", 0, 10): [1, 9], ("b", 0, 10): [3], ("a", 10, 20): [12, 14],
                                   ("a", 20, 30): [20]}
    assert later.still_open == {}


def test_a_window_closes_when_stream_time_reaches_end_plus_grace() -> None:
    outcome = oracle.tumbling(run([("a", 5), ("a", 10), ("a", 9)]), size=10, grace=0)
    assert times(outcome.finals) == {("a", 0, 10): [5]}
    assert [r.time for r in outcome.late] == [9]
    kept = oracle.tumbling(run([("a", 5), ("a", 10), ("a", 9)]), size=10, grace=1)
    assert times(kept.still_open)[("a", 0, 10)] == [5, 9]
    assert kept.late == []


def test_hopping_is_late_only_when_every_window_of_the_record_is_closed() -> None:
    outcome = oracle.hopping(run([("a", 7), ("a", 12), ("a", 3), ("a", 9)]), size=10, advance=5, grace=0,
                             advance_to=100)
    # a@3 belongs to [0,10) alone (no negative starts), closed at 12: late. a@9 still fits [5,15).
    assert times(outcome.finals) == {("a", 0, 10): [7], ("a", 5, 15): [7, 12, 9], ("a", 10, 20): [12]}
    assert [r.time for r in outcome.late] == [3]


def test_hopping_with_epoch_timestamps() -> None:
    base = 1_700_000_040_000  # a multiple of 60,000
    outcome = oracle.hopping(run([("a", base + 61_000)]), size=300_000, advance=60_000, grace=0,
                             advance_to=base + 10**7)
    starts = sorted(start - base for _key, start, _end in outcome.finals)
    assert starts == [-180_000, -120_000, -60_000, 0, 60_000]
    assert all(end - start == 300_000 for _key, start, end in outcome.finals)
    assert all(start % 60_000 == 0 and start <= base + 61_000 < end for _key, start, end in outcome.finals)


def test_sliding_windows_as_kafka_streams_defines_them() -> None:
    outcome = oracle.sliding(run([("a", 10), ("a", 15), ("a", 30)]), time_difference=10, grace=0, advance_to=100)
    # left windows [t-10, t] of every record; the right window [11, 21] of 10 (15 falls in it); 15's right
    # window [16, 26] would be empty. [0, 10] closed before 15 arrived, so 15 is not in it.
    assert times(outcome.finals) == {("a", 0, 10): [10], ("a", 5, 15): [10, 15], ("a", 11, 21): [15],
                                     ("a", 20, 30): [30]}


def test_sliding_out_of_order_and_late() -> None:
    outcome = oracle.sliding(run([("a", 20), ("a", 12)]), time_difference=10, grace=5, advance_to=100)
    # 12 joins [10, 20] (open until stream time 26); its own left window [2, 12] was closed when it came
    # (12 + 1 + 5 <= 20), so it is never created; its right window [13, 23] holds 20.
    assert times(outcome.finals) == {("a", 10, 20): [20, 12], ("a", 13, 23): [20]}
    late = oracle.sliding(run([("a", 50), ("a", 30), ("a", 40)]), time_difference=10, grace=0, advance_to=100)
    # 30: even [30, 40] closed at 50 -> late. 40: [40, 50] is still open (closes at 51), so 40 joins it.
    assert [r.time for r in late.late] == [30]
    assert times(late.finals) == {("a", 40, 50): [50, 40], ("a", 41, 51): [50]}


def test_sessions_merge_within_the_gap_and_closed_sessions_stay_final() -> None:
    outcome = oracle.session(run([("a", 0), ("a", 10), ("a", 30), ("a", 21), ("a", 5), ("a", 12)]), gap=10,
                             grace=0, advance_to=100)
    # [0, 10] closes at stream time 30 (10 + 10 + 1 <= 30); 21 joins [30, 30]; 5 is too far from [21, 30] and
    # its own session is closed: late; 12 joins [21, 30] but not the closed [0, 10].
    assert times(outcome.finals) == {("a", 0, 10): [0, 10], ("a", 12, 30): [30, 21, 12]}
    assert [r.time for r in outcome.late] == [5]


def test_a_record_bridging_two_sessions_merges_them() -> None:
    outcome = oracle.session(run([("b", 0), ("b", 20), ("c", 5), ("b", 10)]), gap=10, grace=100)
    assert times(outcome.still_open) == {("b", 0, 20): [0, 20, 10], ("c", 5, 5): [5]}
    assert outcome.finals == {}
    closed = oracle.session(run([("b", 0), ("b", 20), ("b", 10)]), gap=10, grace=100, advance_to=131)
    assert times(closed.finals) == {("b", 0, 20): [0, 20, 10]}  # closes once 20 + 10 + 100 < stream time


def test_count_windows() -> None:
    records = run([("a", 1), ("a", 2), ("b", 1), ("a", 3), ("a", 4), ("a", 5)])
    tumbling = oracle.count_tumbling(records, 2)
    assert times(tumbling.finals) == {("a", 0, 2): [1, 2], ("a", 2, 4): [3, 4]}
    assert times(tumbling.still_open) == {("a", 4, 5): [5], ("b", 0, 1): [1]}
    sliding = oracle.count_sliding(records, 3, every=2)
    assert times(sliding.finals) == {("a", 0, 2): [1, 2], ("a", 1, 4): [2, 3, 4]}
    every_record = oracle.count_sliding(records, 2)
    assert times(every_record.finals) == {("a", 0, 1): [1], ("a", 0, 2): [1, 2], ("a", 1, 3): [2, 3],
                                          ("a", 2, 4): [3, 4], ("a", 3, 5): [4, 5], ("b", 0, 1): [1]}


def test_aggregate_applies_a_function_to_every_final_window() -> None:
    outcome: Outcome = oracle.tumbling(run([("a", 1), ("a", 2), ("b", 3)]), size=10, grace=0, advance_to=10)
    assert outcome.aggregate(len) == {("a", 0, 10): 2, ("b", 0, 10): 1}
