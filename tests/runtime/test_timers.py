"""Keyed timers in the test driver: when they fire, with what context, and across crashes and replays."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.errors import CheckpointError, ProcessingError, ServiceError, StateError, TimerFailed, TopologyError
from streamproc.kafka.memory import MemoryBroker, MemoryProducer
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy, OnError
from streamproc.runtime.timers import callback_failed
from streamproc.testing import TopologyTestDriver
from tests.support.bolts import Count

WALL = 1_700_000_000_000
QUIET = 10_000


class Alert(Bolt):
    """Fires QUIET ms (event time) after a key's last record, unless another record came first."""

    stores = [Store("last")]

    def process(self, tup: Tuple) -> None:
        last = self.state("last")
        if last.get() is not None:
            self.timers.delete_event_time(last.get() + QUIET)
        last.set(tup.timestamp)
        self.timers.at_event_time(tup.timestamp + QUIET)
        if tup.value.get("remind_at"):
            self.timers.at_wall_time(tup.value["remind_at"])

    def on_timer(self, key: Any, when: int, kind: str) -> None:
        self.emit({"key": key, "when": when, "kind": kind, "last": self.state("last").get()}, key=key)


def alerts(downstream: str | None = None, topics: tuple[str, ...] = ("events",)) -> Topology:
    t = Topology("alerts")
    t.spout("in", KafkaSpout(topics, key_serde=StrSerde(), value_serde=JsonSerde()))
    t.bolt("alert", Alert).shuffle("in")
    t.bolt("out", KafkaSink("out", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("alert")
    if downstream:  # a repartition after the timer, on this field: what the timer emits crosses an internal topic
        t.bolt("count", Count).fields("alert", downstream)
        t.bolt("counts", KafkaSink("counts", value_serde=JsonSerde())).shuffle("count")
    return t


def fired(driver: TopologyTestDriver) -> list[tuple[str, int, str, int]]:
    return [(r.value["key"], r.value["when"], r.value["kind"], r.value["last"]) for r in driver.output("out")]


def test_an_event_timer_fires_once_stream_time_reaches_it_before_the_record_that_moved_it() -> None:
    with TopologyTestDriver(alerts(), wall_time=WALL) as driver:
        driver.send("events", {}, key="a", timestamp=1000)
        driver.send("events", {}, key="b", timestamp=2000)
        driver.send("events", {}, key="a", timestamp=5000)  # a's timer moves to 15000
        driver.send("events", {}, key="c", timestamp=11_999)
        assert fired(driver) == []
        driver.send("events", {}, key="c", timestamp=15_000)  # b's (12000) and a's (15000) are due, in time order
        # on_timer sees the key's state as it was before the record that made the timer due.
        assert fired(driver) == [("b", 12_000, "event", 2000), ("a", 15_000, "event", 5000)]
        driver.send("events", {}, key="c", timestamp=30_000)
        assert fired(driver)[2:] == [("c", 25_000, "event", 15_000)]
        assert driver.output("out")[2].timestamp == 25_000  # what a timer emits carries its time


def test_timers_for_one_time_fire_in_key_order_and_a_deleted_one_never() -> None:
    with TopologyTestDriver(alerts(), wall_time=WALL) as driver:
        for key in ("z", "x", "y"):
            driver.send("events", {}, key=key, timestamp=1000)
        driver.send("events", {}, key="y", timestamp=2000)  # deletes y's timer at 11000
        driver.send("events", {}, key="w", timestamp=11_000)
        assert fired(driver) == [("x", 11_000, "event", 1000), ("z", 11_000, "event", 1000)]


def test_a_wall_clock_timer_fires_when_the_driver_clock_reaches_it() -> None:
    with TopologyTestDriver(alerts(), wall_time=WALL) as driver:
        driver.send("events", {"remind_at": WALL + 5000}, key="a", timestamp=1000)
        driver.advance_time(4.9)
        assert fired(driver) == []
        driver.advance_time(0.1)
        assert fired(driver) == [("a", WALL + 5000, "wall", 1000)]
        driver.advance_time(60)
        assert len(fired(driver)) == 1


def test_timers_survive_a_crash_and_fire_once_per_committed_state() -> None:
    with TopologyTestDriver(alerts(), wall_time=WALL) as driver:
        driver.send("events", {"remind_at": WALL + 1000}, key="a", timestamp=1000)
        driver.checkpoint()
        driver.crash(lose_state=True)  # timers come back from the changelog
        driver.advance_time(1)
        assert fired(driver) == [("a", WALL + 1000, "wall", 1000)]
        driver.crash()  # the firing was not committed: it fires again (at-least-once in effect)
        driver.advance_time(1)
        assert fired(driver)[1:] == [("a", WALL + 1000, "wall", 1000)]
        driver.checkpoint()
        driver.crash()
        driver.advance_time(60)
        driver.send("events", {}, key="b", timestamp=20_000)  # fires a's event timer (11000), once
        driver.checkpoint()
        driver.crash(lose_state=True)
        driver.send("events", {}, key="b", timestamp=40_000)
        assert [f for f in fired(driver) if f[2] == "event"] == [("a", 11_000, "event", 1000),
                                                                 ("b", 30_000, "event", 20_000)]


def test_what_a_replayed_timer_emits_to_an_internal_topic_is_not_counted_twice() -> None:
    with TopologyTestDriver(alerts(downstream="kind"), wall_time=WALL) as driver:
        driver.send("events", {}, key="a", timestamp=1000)
        driver.send("events", {}, key="b", timestamp=1000)
        driver.checkpoint()
        driver.send("events", {}, key="c", timestamp=20_000)  # fires a's and b's timers
        assert driver.state("counts", "event") == 2
        # The worker dies before committing: the replay reads c again, which fires the same timers again, with
        # the same origins; the repartition topic holds both copies, and downstream applies one.
        driver.crash()
        origins = [dict(m.headers())["streamproc.origin"] for m in driver.records("alerts-count-repartition")]
        assert len(origins) == 4 and origins[:2] == origins[2:]
        assert origins[0] == b"streamproc.timer.0.alert:0:11000:0" and origins[1].endswith(b":11000:1")
        assert len([f for f in fired(driver) if f[2] == "event"]) == 4  # outputs repeat (at-least-once)
        assert driver.state("counts", "event") == 2
        driver.checkpoint()
        driver.crash(lose_state=True)
        assert driver.state("counts", "event") == 2


def test_a_replay_that_reads_two_inputs_in_another_order_loses_no_timer_record() -> None:
    """Origins are the timers' times, not input positions: a replay that interleaves the task's two inputs
    differently fires the timers stream time passes with the same origins (skipped downstream); a timer that
    the new order made overdue fires under a new origin (counted again: at-least-once), never under an old one."""
    with TopologyTestDriver(alerts(downstream="key", topics=("a", "b")), wall_time=WALL) as driver:
        driver.send("a", {}, key="k1", timestamp=1000)
        driver.send("b", {}, key="k2", timestamp=2000)
        driver.send("b", {}, key="z", timestamp=5000)
        driver.send("a", {}, key="x", timestamp=15_000)  # fires k1 (11000) and k2 (12000)
        driver.send("b", {}, key="y", timestamp=40_000)  # fires z (15000) and x (25000)
        counts = {k: driver.state("counts", k) for k in ("k1", "k2", "z", "x")}
        assert counts == {"k1": 1, "k2": 1, "z": 1, "x": 1}
        driver.crash()  # the replay reads all of a, then all of b: k2's and z's timers are overdue when scheduled
        counts = {k: driver.state("counts", k) for k in ("k1", "k2", "z", "x")}
        assert counts == {"k1": 1, "k2": 2, "z": 2, "x": 1}


def test_a_bolt_with_timers_needs_a_store() -> None:
    with pytest.raises(TopologyError, match="defines on_timer but declares no store"):
        class NoStore(Bolt):
            def process(self, tup: Tuple) -> None: ...

            def on_timer(self, key: Any, when: int, kind: str) -> None: ...


class Misuse(Bolt):
    stores = [Store("s")]

    def process(self, tup: Tuple) -> None:
        self.timers.at_event_time(tup.value["when"])

    def on_timer(self, key: Any, when: int, kind: str) -> None:
        raise RuntimeError("boom")


def misuse() -> Topology:
    t = Topology("misuse")
    t.spout("in", KafkaSpout("events", key_serde=StrSerde(), value_serde=JsonSerde()))
    t.bolt("m", Misuse).shuffle("in")
    return t


def test_timer_misuse_gives_clear_errors() -> None:
    with TopologyTestDriver(misuse(), on_error="dlq", wall_time=WALL) as driver:
        driver.send("events", {"when": 5}, key=None, timestamp=1)
        driver.send("events", {"when": 1.5}, key="k", timestamp=1)
        errors = [d.error for d in driver.dead_letters()]
        assert "a timer needs a key and there is no current one" in errors[0]
        assert "a timer's time is an int of ms since the epoch" in errors[1]
        with pytest.raises(StateError, match="timers need an on_timer"):
            Count().timers.at_event_time(1)


def test_a_failing_timer_callback_stops_under_fail_and_is_dropped_under_skip(caplog: pytest.LogCaptureFixture
                                                                            ) -> None:
    with TopologyTestDriver(misuse(), wall_time=WALL) as driver:
        driver.send("events", {"when": 100}, key="k", timestamp=1)
        with pytest.raises(TimerFailed, match=r"m.on_timer\('k', 100, 'event'\) failed: RuntimeError: boom"):
            driver.send("events", {"when": 100}, key="k", timestamp=200)
    with TopologyTestDriver(misuse(), on_error="skip", wall_time=WALL) as driver:
        driver.send("events", {"when": 100}, key="k", timestamp=1)
        driver.send("events", {"when": 10_000}, key="k", timestamp=200)
        assert "m.on_timer('k', 100, 'event') failed and was dropped" in caplog.text
        assert driver.tasks[(0, 0)].time.timers["m"].pending() == 1  # the one at 10000 stays


class AlertModel:
    """Alert's timers computed by brute force: stream time, each key's last event time, its pending timer."""

    def __init__(self) -> None:
        self.stream_time = -1
        self.last: dict[str, int] = {}
        self.timers: set[tuple[int, str]] = set()
        self.fired: list[tuple[str, int, str, int]] = []

    def _fire_up_to(self, now: int) -> None:
        for when, key in sorted(t for t in self.timers if t[0] <= now):
            self.timers.remove((when, key))
            self.fired.append((key, when, "event", self.last[key]))

    def record(self, key: str, ts: int) -> None:
        if ts > self.stream_time:
            self.stream_time = ts
            self._fire_up_to(ts)
        if key in self.last:
            self.timers.discard((self.last[key] + QUIET, key))
        self.last[key] = ts
        self.timers.add((ts + QUIET, key))


@pytest.mark.parametrize("seed", range(12))
def test_timers_match_a_brute_force_model_across_checkpoints_crashes_and_lost_state(seed: int) -> None:
    """Random out-of-order records, checkpoints and crashes: every timer the model fires is emitted, in the
    model's order, with the state on_timer should see (repeats only after a crash), and a count behind a
    repartition of what the timers emit is exact. Records stay within QUIET of stream time, so no timer is
    scheduled in the past (those fire at the next loop iteration, which a replay in one batch places
    differently)."""
    rng = random.Random(seed)
    model = AlertModel()
    with TopologyTestDriver(alerts(downstream="key"), partitions=1, wall_time=WALL) as driver:
        crashed = False
        for _ in range(60):
            op = rng.random()
            if op < 0.8:
                key = rng.choice("abcd")
                low = max(0, model.stream_time - QUIET + 1)
                ts = rng.randint(low, max(low, model.stream_time) + 3 * QUIET)
                model.record(key, ts)
                driver.send("events", {}, key=key, timestamp=ts)
            elif op < 0.9:
                driver.checkpoint()
            else:
                driver.crash(lose_state=rng.random() < 0.5)
                crashed = True
        outputs = fired(driver)
        distinct = list(dict.fromkeys(outputs))
        assert distinct == model.fired
        if not crashed:
            assert outputs == model.fired
        expected = Counter(key for key, _, _, _ in model.fired)
        assert {k: driver.state("counts", k, 0) for k in "abcd"} == {k: expected[k] for k in "abcd"}


@pytest.mark.parametrize("mode", ["skip", "dlq"])
def test_a_callback_that_fails_for_want_of_a_producer_stops_the_worker_in_every_mode(mode: OnError) -> None:
    """A timer (or a window's final) whose emit fails because the producer cannot go on, or a registry is down,
    is not dropped as the callback's fault: its output would be lost while its timer is gone."""
    policy = ErrorPolicy(mode, "t-dlq", Output(MemoryProducer(MemoryBroker())))
    unusable = KafkaException(KafkaError(KafkaError._STATE, "Unable to produce message: Local: Erroneous state"))
    with pytest.raises(CheckpointError, match="the producer cannot go on"):
        callback_failed(policy, "Alert.on_timer('p', 5, 'event')", ProcessingError("alerts-out", unusable))
    with pytest.raises(ServiceError, match="registry down"):
        callback_failed(policy, "Alert.on_tick()", ServiceError("registry down"))
    assert policy.skipped == 0
