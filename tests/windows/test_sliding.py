"""Sliding windows (Kafka Streams' SlidingWindows) in the test driver."""

from __future__ import annotations

import pytest

from streamproc.state.store import key_prefix
from streamproc.state.windowed import window_key
from streamproc.windows import Sliding, WindowedBolt, agg
from tests.windows.support import driver, results


class Within100(WindowedBolt):
    window = Sliding(time_difference=100, grace=50)
    aggregation = agg.collect("n")
    emit_mode = "final"


class Within100Updates(WindowedBolt):
    window = Sliding(time_difference=100, grace=50)
    aggregation = agg.count()


def test_one_window_per_distinct_set_of_records_no_further_apart_than_the_difference() -> None:
    with driver(Within100) as d:
        for n, ts in enumerate((1000, 1050, 1200)):
            d.send("events", {"n": n}, key="a", timestamp=ts)
        d.send("events", {"n": -1}, key="z", timestamp=9000)
        assert [r for r in results(d) if r[0] == "a"] == [
            ("a", 900, 1000, [0]),  # left of 1000
            ("a", 950, 1050, [0, 1]),  # left of 1050
            ("a", 1001, 1101, [1]),  # right of 1000
            ("a", 1100, 1200, [2]),  # left of 1200 (1050's right window would hold no record: there is none)
        ]


def test_a_window_closes_at_end_plus_one_plus_grace_stamped_with_its_end() -> None:
    with driver(Within100) as d:
        d.send("events", {"n": 0}, key="a", timestamp=1000)
        d.send("events", {"n": 1}, key="b", timestamp=1050)  # [900, 1000] closes at 1000 + 1 + 50
        assert results(d) == []
        d.send("events", {"n": 2}, key="b", timestamp=1051)
        assert results(d) == [("a", 900, 1000, [0])]
        assert d.output("out")[0].timestamp == 1000


def test_early_records_share_the_window_from_zero() -> None:
    with driver(Within100) as d:
        d.send("events", {"n": 0}, key="a", timestamp=30)
        d.send("events", {"n": 1}, key="a", timestamp=70)
        d.send("events", {"n": -1}, key="z", timestamp=9000)
        assert [r for r in results(d) if r[0] == "a"] == [("a", 0, 100, [0, 1]), ("a", 31, 131, [1])]


def test_a_record_is_late_only_when_every_window_that_could_hold_it_is_closed() -> None:
    with driver(Within100) as d:
        d.send("events", {"n": 0}, key="a", timestamp=1000)
        d.send("events", {"n": 1}, key="a", timestamp=849)  # 849 + 100 + 50 < 1000: late
        d.send("events", {"n": 2}, key="a", timestamp=850)  # [851, 951] (its right window) could still open
        assert [r.value["n"] for r in d.output("late")] == [1]
        d.send("events", {"n": 3}, key="a", timestamp=900)  # defines [851, 951] (and [901, 1001] holding 1000)
        d.send("events", {"n": -1}, key="z", timestamp=9000)
        assert [r for r in results(d) if r[0] == "a"] == [("a", 851, 951, [3]), ("a", 900, 1000, [3, 0]),
                                                          ("a", 901, 1001, [0])]


def test_updates_emit_every_window_the_record_changed() -> None:
    with driver(Within100Updates) as d:
        d.send("events", {}, key="a", timestamp=1000)
        d.send("events", {}, key="a", timestamp=1050)
        assert results(d) == [("a", 900, 1000, 1), ("a", 950, 1050, 2), ("a", 1001, 1101, 1)]


@pytest.mark.parametrize("lose_state", [False, True])
def test_records_and_open_windows_survive_a_restore_and_expire(lose_state: bool) -> None:
    with driver(Within100) as d:
        d.send("events", {"n": 0}, key="a", timestamp=1000)
        d.send("events", {"n": 1}, key="a", timestamp=1050)
        d.checkpoint()
        d.crash(lose_state=lose_state)
        d.send("events", {"n": 2}, key="a", timestamp=1100)
        d.send("events", {"n": -1}, key="z", timestamp=9000)
        d.checkpoint()
        assert [r for r in results(d) if r[0] == "a"] == [
            ("a", 900, 1000, [0]), ("a", 950, 1050, [0, 1]), ("a", 1000, 1100, [0, 1, 2]), ("a", 1001, 1101, [1, 2]),
            ("a", 1051, 1151, [2]),
        ]
        backend = d.tasks[(0, 0)].stores["Within100.windows"].backend
        assert backend.get(window_key(key_prefix(b'"a"'), 1000)) is None  # records expired: tombstones
        assert d.tasks[(0, 0)].time.windows["win"].open == 1  # z's left window
