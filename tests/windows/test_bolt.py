"""Declaring a WindowedBolt: its store and late stream, checks on its attributes, metrics."""

from __future__ import annotations

from typing import Any

import pytest

from streamproc import Store, Tuple
from streamproc.errors import TopologyError
from streamproc.metrics import RuntimeMetrics, late_tally
from streamproc.runtime.gauges import open_windows
from streamproc.testing import RecordFailedError
from streamproc.windows import Tumbling, WindowedBolt, agg
from tests.windows.support import driver, results


class Counts(WindowedBolt):
    window = Tumbling(size=1000, grace=0)
    aggregation = agg.count()
    stores = [Store("extra")]
    streams = ("alerts",)


def test_the_window_store_comes_first_then_the_users_and_the_late_stream_is_declared() -> None:
    assert [(s.name, s.backend) for s in Counts.stores] == [("Counts.windows", "windowed"), ("extra", "rocksdb")]
    assert Counts.streams == ("late", "alerts")

    class Renamed(Counts):
        window_store = "renamed"

    assert [s.name for s in Renamed.stores] == ["renamed", "extra"]
    assert Renamed.streams == ("late", "alerts")


@pytest.mark.parametrize(("attrs", "message"), [
    ({"window": 10, "aggregation": agg.count()}, "window must be Tumbling"),
    ({"window": Tumbling(10, 0), "aggregation": len}, "aggregation must be one of"),
    ({"window": Tumbling(10, 0), "aggregation": agg.count(), "emit_mode": "once"}, "emit_mode must be 'updates'"),
    ({"window": Tumbling(10, 0), "aggregation": agg.count(), "retention": -1}, "retention must be >= 0"),
    ({"window": Tumbling(10, 0), "aggregation": agg.count(), "process": lambda self, tup: None},
     "process is the window's"),
])
def test_bad_declarations_are_topology_errors(attrs: dict[str, Any], message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        type("Bad", (WindowedBolt,), attrs)


class Collect(WindowedBolt):
    window = Tumbling(size=1000, grace=0)
    aggregation = agg.collect(lambda tup: set(tup.value) if "bad" in tup.value else tup.value)


def test_a_value_the_store_cannot_keep_fails_its_record_not_the_checkpoint() -> None:
    with driver(Collect, on_error="skip") as d:
        d.send("events", {"ok": 1}, key="a", timestamp=10)
        d.send("events", {"bad": 1}, key="a", timestamp=20)  # a set: not JSON
        assert results(d) == [("a", 0, 1000, [{"ok": 1}])]
        d.checkpoint()
        assert d.state("Collect.windows", "a") is None
    with driver(Collect) as d, pytest.raises(RecordFailedError, match="cannot keep"):
        d.send("events", {"bad": 1}, key="a", timestamp=20)


def test_late_records_are_counted_per_component_and_open_windows_per_task() -> None:
    before = late_tally("win").count
    with driver(Counts) as d:
        d.send("events", {}, key="a", timestamp=5000)
        d.send("events", {}, key="b", timestamp=5001)
        d.send("events", {}, key="a", timestamp=10)
        assert late_tally("win").count == before + 1
        assert open_windows(d.manager.running()) == {("win", 0): 2}
        metrics = RuntimeMetrics("win")
        metrics.publish_open_windows(open_windows(d.manager.running()))
        text = {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in metrics.registry.collect() for s in family.samples}
        assert text[("streamproc_open_windows", (("component", "win"), ("partition", "0"), ("topology", "win")))] == 2
        assert text[("streamproc_late_records_total", (("component", "win"), ("topology", "win")))] == before + 1


class Downstream(WindowedBolt):
    window = Tumbling(size=1000, grace=0)
    aggregation = agg.count()
    emit_mode = "final"

    def on_timer(self, key: Any, when: int, kind: str) -> None:
        """Only there to show that a windowed bolt may also keep timers in its store."""


def test_a_windowed_bolt_may_also_define_timers() -> None:
    with driver(Downstream) as d:
        d.send("events", {}, key="a", timestamp=10)
        d.send("events", {}, key="a", timestamp=1000)
        assert results(d) == [("a", 0, 1000, 1)]


def test_an_unbound_windowed_bolt_says_so() -> None:
    with pytest.raises(TopologyError, match="not bound to a task"):
        Counts().process(Tuple("k", 1, "t", 0, 0, 0, None, "default", "in"))
