"""Storm's count windows: per key, over the last n records, whatever their time."""

from __future__ import annotations

from streamproc.windows import CountSliding, CountTumbling, WindowedBolt, agg
from tests.windows.support import driver, results


class Threes(WindowedBolt):
    window = CountTumbling(3)
    aggregation = agg.sum("n")


class LastThree(WindowedBolt):
    window = CountSliding(3, every=2)
    aggregation = agg.collect("n")


def test_count_tumbling_emits_each_run_of_n_records_of_a_key() -> None:
    with driver(Threes) as d:
        for i, key in enumerate("aabab" "ba"):
            d.send("events", {"n": i}, key=key, timestamp=1000 - i)  # time plays no part, nor order
        assert results(d) == [("a", 997, 1001, 0 + 1 + 3), ("b", 995, 999, 2 + 4 + 5)]
        assert d.output("late") == []


def test_count_tumbling_a_partial_window_survives_a_restore() -> None:
    with driver(Threes) as d:
        d.send("events", {"n": 1}, key="a", timestamp=1)
        d.send("events", {"n": 2}, key="a", timestamp=2)
        d.checkpoint()
        d.crash(lose_state=True)
        d.send("events", {"n": 3}, key="a", timestamp=3)
        assert results(d) == [("a", 1, 4, 6)]


def test_count_sliding_emits_the_last_n_every_few_records() -> None:
    with driver(LastThree) as d:
        for n in range(1, 8):
            d.send("events", {"n": n}, key="a", timestamp=n * 10)
        assert results(d) == [("a", 10, 21, [1, 2]), ("a", 20, 41, [2, 3, 4]), ("a", 40, 61, [4, 5, 6])]
