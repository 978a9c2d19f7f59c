"""Tumbling and hopping windows in the test driver: bounds, grace, emit modes, late records, expiry, crashes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streamproc.errors import StateError
from streamproc.state.store import key_prefix
from streamproc.state.windowed import window_key
from streamproc.testing import RecordFailedError
from streamproc.windows import Hopping, Tumbling, WindowedBolt, agg
from tests.windows.support import driver, results


class Final(WindowedBolt):
    window = Tumbling(size=timedelta(seconds=1), grace=100)
    aggregation = agg.count()
    emit_mode = "final"


class Updates(WindowedBolt):
    window = Tumbling(size=1000, grace=0)
    aggregation = agg.sum("n")


class Hop(WindowedBolt):
    window = Hopping(size=1000, advance=500, grace=0)
    aggregation = agg.collect("n")
    emit_mode = "final"


def test_a_final_is_emitted_once_when_stream_time_reaches_end_plus_grace() -> None:
    with driver(Final) as d:
        for ts, key in [(10, "a"), (20, "a"), (500, "b"), (999, "a")]:
            d.send("events", {}, key=key, timestamp=ts)
        d.send("events", {}, key="b", timestamp=1099)  # end + grace - 1: still open
        assert results(d) == []
        d.send("events", {}, key="c", timestamp=1100)  # closes [0, 1000): a before b (storage key order)
        assert results(d) == [("a", 0, 1000, 3), ("b", 0, 1000, 1)]
        assert [(r.key, r.timestamp) for r in d.output("out")] == [("a", 999), ("b", 999)]
        d.send("events", {}, key="c", timestamp=2100)
        assert results(d)[2:] == [("b", 1000, 2000, 1), ("c", 1000, 2000, 1)]


def test_a_record_in_a_closed_window_goes_to_the_late_stream_as_it_came() -> None:
    with driver(Final) as d:
        d.send("events", {"n": 1}, key="a", timestamp=1050)
        d.send("events", {"n": 2}, key="a", timestamp=999)  # [0, 1000) closes at 1100: still open
        d.send("events", {"n": 3}, key="b", timestamp=2000)
        d.send("events", {"n": 4}, key="a", timestamp=100, headers=[("h", b"1")])  # closed at 1100
        late = d.output("late")
        assert [(r.key, r.value, r.timestamp, r.headers) for r in late] == [("a", {"n": 4}, 100, [("h", b"1")])]
        assert d.tasks[(0, 0)].time.windows["win"].late == 1
        d.send("events", {}, key="a", timestamp=3100)
        assert results(d) == [("a", 0, 1000, 1), ("a", 1000, 2000, 1), ("b", 2000, 3000, 1)]


def test_updates_emit_every_change_stamped_with_the_record() -> None:
    with driver(Updates) as d:
        d.send("events", {"n": 2}, key="a", timestamp=10)
        d.send("events", {"n": 3}, key="a", timestamp=900)
        d.send("events", {"n": 4}, key="a", timestamp=1000)
        assert results(d) == [("a", 0, 1000, 2), ("a", 0, 1000, 5), ("a", 1000, 2000, 4)]
        assert [r.timestamp for r in d.output("out")] == [10, 900, 1000]
        d.send("events", {"n": 5}, key="a", timestamp=999)  # grace 0: [0, 1000) closed at 1000
        assert len(d.output("late")) == 1 and len(results(d)) == 3


def test_hopping_windows_each_record_is_in_size_over_advance_windows() -> None:
    with driver(Hop) as d:
        d.send("events", {"n": 1}, key="a", timestamp=200)  # [0,1000) (and no window before 0)
        d.send("events", {"n": 2}, key="a", timestamp=700)  # [0,1000), [500,1500)
        d.send("events", {"n": 3}, key="a", timestamp=1200)  # [500,1500), [1000,2000)
        d.send("events", {"n": 9}, key="z", timestamp=2500)
        assert results(d) == [("a", 0, 1000, [1, 2]), ("a", 500, 1500, [2, 3]), ("a", 1000, 2000, [3])]


def test_hopping_a_record_with_one_window_open_is_not_late() -> None:
    with driver(Hop) as d:
        d.send("events", {"n": 1}, key="a", timestamp=1000)  # closes [0, 1000)
        d.send("events", {"n": 2}, key="a", timestamp=700)  # [0,1000) closed, [500,1500) open
        assert d.output("late") == []
        d.send("events", {"n": 3}, key="a", timestamp=400)  # only [0,1000): late
        assert [r.value for r in d.output("late")] == [{"n": 3}]
        d.send("events", {"n": 0}, key="z", timestamp=5000)
        assert ("a", 500, 1500, [1, 2]) in results(d)


def test_closed_windows_are_deleted_with_a_tombstone_in_the_changelog() -> None:
    with driver(Final) as d:
        d.send("events", {}, key="a", timestamp=10)
        d.checkpoint()
        part = d.tasks[(0, 0)].stores["Final.windows"]
        skey = window_key(key_prefix(b'"a"'), 0)
        assert part.backend.get(skey) == b"1"
        d.send("events", {}, key="b", timestamp=5000)
        d.checkpoint()
        assert part.backend.get(skey) is None
        changelog = [(m.key(), m.value()) for m in d.records(d.plan.names.changelog("Final.windows"))]
        assert (skey, b"1") in changelog and changelog.index((skey, None)) > changelog.index((skey, b"1"))
        assert sum(1 for _ in part.backend.windows()) == 1  # b's window [5000, 6000)


def test_a_window_opened_and_closed_between_two_checkpoints_costs_no_changelog_record() -> None:
    with driver(Final) as d:
        d.send("events", {}, key="a", timestamp=10)
        d.send("events", {}, key="b", timestamp=1100)  # closes a's window: it was never stored
        d.checkpoint()
        changelog = [m.key() for m in d.records(d.plan.names.changelog("Final.windows"))]
        assert window_key(key_prefix(b'"a"'), 0) not in changelog
        assert window_key(key_prefix(b'"b"'), 1000) in changelog
        assert results(d) == [("a", 0, 1000, 1)]
        d.crash(lose_state=True)  # b's window, restored, still closes once
        d.send("events", {}, key="c", timestamp=2100)
        assert results(d) == [("a", 0, 1000, 1), ("b", 1000, 2000, 1)]


class Kept(WindowedBolt):
    window = Tumbling(size=1000, grace=0)
    aggregation = agg.count()
    emit_mode = "final"
    retention = timedelta(seconds=2)


def test_retention_keeps_closed_windows_then_expires_them_also_after_a_restore() -> None:
    with driver(Kept) as d:
        d.send("events", {}, key="a", timestamp=10)
        d.send("events", {}, key="a", timestamp=1500)  # closes [0, 1000), kept until 3000
        d.checkpoint()
        part = d.tasks[(0, 0)].stores["Kept.windows"]
        assert part.backend.get(window_key(key_prefix(b'"a"'), 0)) == b"1"
        d.crash(lose_state=True)
        d.send("events", {}, key="a", timestamp=2999)
        assert d.tasks[(0, 0)].stores["Kept.windows"].get(window_key(key_prefix(b'"a"'), 0)) == 1
        d.send("events", {}, key="a", timestamp=3000)
        d.checkpoint()
        backend = d.tasks[(0, 0)].stores["Kept.windows"].backend
        assert backend.get(window_key(key_prefix(b'"a"'), 0)) is None
        assert results(d) == [("a", 0, 1000, 1), ("a", 1000, 2000, 1), ("a", 2000, 3000, 1)]


@pytest.mark.parametrize("lose_state", [False, True])
def test_a_crash_mid_window_gives_the_same_finals(lose_state: bool) -> None:
    events = [(t * 137 % 4000, k) for t in range(60) for k in "abc"]
    with driver(Final) as reference:
        for ts, key in events:
            reference.send("events", {}, key=key, timestamp=ts)
        reference.send("events", {}, key="z", timestamp=10_000)
        expected = results(reference)
    with driver(Final) as d:
        for i, (ts, key) in enumerate(events):
            d.send("events", {}, key=key, timestamp=ts)
            if i == 70:
                d.checkpoint()
            if i == 100:
                d.crash(lose_state=lose_state)  # back to the checkpoint at 70: 71..100 are read again
        d.send("events", {}, key="z", timestamp=10_000)
        got = results(d)
    # Finals emitted after the checkpoint and before the crash come out twice (at-least-once, as every output);
    # the distinct finals are exactly the reference's, and the last of each window is the reference's.
    assert sorted(set(map(repr, got))) == sorted(map(repr, expected))
    assert {(k, s): v for k, s, _, v in got} == {(k, s): v for k, s, _, v in expected}


def test_idle_advance_closes_windows_of_a_quiet_stream() -> None:
    with driver(Final, idle_advance=5.0) as d:
        d.send("events", {}, key="a", timestamp=100)
        d.advance_time(4.9)
        assert results(d) == [] and d.stream_time() == 100
        d.advance_time(0.1)  # 5 s without input: stream time moves on by the 5 s elapsed, to 5100
        assert results(d) == [("a", 0, 1000, 1)]


def test_a_tuple_without_a_key_fails_its_record() -> None:
    with driver(Final) as d, pytest.raises(RecordFailedError) as failed:
        d.send("events", {}, key=None, timestamp=10)
    assert isinstance(failed.value.__cause__, StateError) or "key None" in str(failed.value)
