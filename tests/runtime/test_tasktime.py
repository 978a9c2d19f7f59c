"""Ticks and idle advance, driven by the test driver's wall clock (no sleeping)."""

from __future__ import annotations

from typing import Any

import pytest

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.errors import StateError, TimerFailed, TopologyError
from streamproc.testing import TopologyTestDriver
from tests.runtime.test_timers import alerts

WALL = 1_700_000_000_000


class Ticker(Bolt):
    """Counts records under one key and reports the total every 2 s of wall-clock time."""

    stores = [Store("totals")]
    tick_interval = 2

    def setup(self, context: Any) -> None:
        self.partition = context.partition

    def process(self, tup: Tuple) -> None:
        total = self.state("totals", key="all")
        total.set(total.get(0) + 1)

    def on_tick(self) -> None:
        self.emit({"partition": self.partition, "total": self.state("totals", key="all").get(0)}, key="all")


def ticking(bolt: type[Bolt] = Ticker) -> Topology:
    t = Topology("ticks")
    t.spout("in", KafkaSpout("events", key_serde=StrSerde(), value_serde=JsonSerde()))
    t.bolt("ticker", bolt).shuffle("in")
    t.bolt("out", KafkaSink("out", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("ticker")
    return t


def test_on_tick_runs_every_interval_on_every_task_with_an_explicit_key() -> None:
    with TopologyTestDriver(ticking(), partitions=2, wall_time=WALL) as driver:
        driver.send("events", {}, key="x", partition=0, timestamp=5000)
        driver.send("events", {}, key="y", partition=0, timestamp=6000)
        driver.send("events", {}, key="z", partition=1, timestamp=7000)
        driver.advance_time(1.9)
        assert driver.output("out") == []
        driver.advance_time(0.1)
        ticks = sorted((r.value["partition"], r.value["total"]) for r in driver.output("out"))
        assert ticks == [(0, 2), (1, 1)]
        # What a tick emits carries the task's stream time (the wall clock before the task saw a record).
        assert sorted(r.timestamp for r in driver.output("out")) == [6000, 7000]
        driver.advance_time(2)
        driver.advance_time(2)
        assert len(driver.output("out")) == 6
        # A long pause: one tick, not one per missed interval.
        driver.advance_time(60)
        assert len(driver.output("out")) == 8


class KeylessTicker(Ticker):
    def on_tick(self) -> None:
        self.state("totals").get()


def test_state_in_on_tick_needs_an_explicit_key() -> None:
    with TopologyTestDriver(ticking(KeylessTicker), wall_time=WALL) as driver:
        driver.send("events", {}, key="x", timestamp=5000)
        with pytest.raises(TimerFailed) as failed:
            driver.advance_time(2)
        assert isinstance(failed.value.__cause__, StateError)
        assert "pass the key: self.state('totals', key=...)" in str(failed.value)


def test_tick_interval_must_be_positive() -> None:
    with pytest.raises(TopologyError, match="tick_interval must be a number of seconds > 0"):
        class Bad(Bolt):
            tick_interval = 0

            def process(self, tup: Tuple) -> None: ...


def fired(driver: TopologyTestDriver) -> list[tuple[str, int]]:
    return [(r.value["key"], r.value["when"]) for r in driver.output("out")]


def test_idle_advance_moves_stream_time_with_the_wall_clock_after_the_idle_interval() -> None:
    with TopologyTestDriver(alerts(), wall_time=WALL, idle_advance=30) as driver:
        driver.send("events", {}, key="a", timestamp=1000)  # a's timer at 11000
        driver.advance_time(29.9)
        assert driver.stream_time() == 1000
        driver.advance_time(0.1)  # 30 s without input: stream time = 1000 + 30 s of wall clock
        assert driver.stream_time() == 31_000
        assert fired(driver) == [("a", 11_000)]
        driver.advance_time(5)  # it keeps following the wall clock while the input stays quiet
        assert driver.stream_time() == 36_000
        # A record again: stream time stays (an older record does not move it back), and idle time restarts.
        driver.send("events", {}, key="b", timestamp=20_000)  # b's timer at 30000: already passed
        assert driver.stream_time() == 36_000
        assert fired(driver)[1:] == [("b", 30_000)]  # an overdue timer fires at the next loop iteration
        driver.advance_time(29)
        assert driver.stream_time() == 36_000


def test_idle_advance_is_off_by_default() -> None:
    with TopologyTestDriver(alerts(), wall_time=WALL) as driver:
        driver.send("events", {}, key="a", timestamp=1000)
        driver.advance_time(3600)
        assert driver.stream_time() == 1000
        assert fired(driver) == []



class TickAndBatch(Bolt):
    """Holds what it receives and what its tick makes, emits the held records at the checkpoint; the tick also
    emits one record at once. Everything goes to one repartition topic."""

    stores = [Store("ticks")]
    output_fields = ("word",)
    tick_interval = 1

    def setup(self, context: Any) -> None:
        self.held: list[str] = []

    def process(self, tup: Tuple) -> None:
        self.held.append(tup.value["word"])

    def on_tick(self) -> None:
        ticks = self.state("ticks", key="n")
        ticks.set(ticks.get(0) + 1)
        self.emit({"word": f"tick-{ticks.get()}"})
        self.held.append(f"held-{ticks.get()}")

    def flush(self) -> None:
        for word in self.held:
            self.emit({"word": word})
        self.held.clear()


class Total(Bolt):
    stores = [Store("totals")]

    def process(self, tup: Tuple) -> None:
        total = self.state("totals")
        total.set(total.get(0) + 1)


def test_a_flush_with_no_input_since_the_last_one_is_not_taken_for_a_copy_downstream() -> None:
    """The flush origin is the task's input position: a second flush at the same position, after a tick emitted
    to the same topic, numbered its records from 0 again, and downstream skipped them as copies."""
    t = Topology("tb")
    t.spout("in", KafkaSpout("words", value_serde=JsonSerde()))
    t.bolt("batch", TickAndBatch).shuffle("in")
    t.bolt("total", Total).fields("batch", "word")
    with TopologyTestDriver(t, wall_time=WALL) as driver:
        driver.send("words", {"word": "a"}, timestamp=1000)
        driver.checkpoint()
        driver.advance_time(1)
        driver.checkpoint()
        totals = {w: driver.state("totals", w) for w in ("a", "tick-1", "held-1")}
        assert totals == {"a": 1, "tick-1": 1, "held-1": 1}
        driver.crash()  # and after a restart, before any input
        driver.advance_time(1)
        driver.checkpoint()
        totals = {w: driver.state("totals", w) for w in ("tick-2", "held-2")}
        assert totals == {"tick-2": 1, "held-2": 1}


class BareTicker(Bolt):
    tick_interval = 1

    def process(self, tup: Tuple) -> None:
        pass

    def on_tick(self) -> None:
        self.emit({"tick": True}, key="t")


def test_a_tick_makes_a_checkpoint_due_even_without_input_or_state() -> None:
    """A worker skips a checkpoint when no task progressed and none is dirty; what a tick emitted (or left for
    flush()) must still reach a checkpoint."""
    with TopologyTestDriver(ticking(BareTicker), wall_time=WALL) as driver:
        [task] = driver.manager.running()
        assert not task.dirty
        driver.advance_time(1)
        assert task.dirty
        driver.checkpoint()
        assert not task.dirty
