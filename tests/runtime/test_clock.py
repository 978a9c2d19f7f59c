"""Event time and stream time: extractors, bad timestamps, the future-skew bound, and stream time kept with state."""

from __future__ import annotations

from typing import Any

import pytest

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.errors import FutureTimestampError, TimestampError, TopologyError
from streamproc.runtime.clock import StreamTime, TimeConfig
from streamproc.testing import RecordFailedError, TopologyTestDriver

WALL = 1_700_000_000_000


class Stamp(Bolt):
    """Emits the event time it saw; keeps a count so that the task has a store."""

    stores = [Store("seen")]

    def process(self, tup: Tuple) -> None:
        self.state("seen").set(1)
        self.emit({"ts": tup.timestamp}, key=tup.key)


class StatelessStamp(Bolt):
    def process(self, tup: Tuple) -> None:
        self.emit({"ts": tup.timestamp}, key=tup.key)


def topology(bolt: type[Bolt] = Stamp, timestamp: Any = None) -> Topology:
    t = Topology("et")
    t.spout("in", KafkaSpout("events", key_serde=StrSerde(), value_serde=JsonSerde(), timestamp=timestamp))
    t.bolt("stamp", bolt).shuffle("in")
    t.bolt("out", KafkaSink("out", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("stamp")
    return t


def failures(driver: TopologyTestDriver, name: str = "streamproc_future_timestamps_total") -> float:
    value = driver._metrics.registry.get_sample_value(name, {"topology": "et"})
    return value or 0.0


def test_stream_time_is_the_highest_event_time_and_never_goes_back() -> None:
    with TopologyTestDriver(topology(), wall_time=WALL) as driver:
        assert driver.stream_time() == -1
        for ts in (WALL - 5000, WALL - 1000, WALL - 3000):
            driver.send("events", {}, key="k", timestamp=ts)
        assert driver.stream_time() == WALL - 1000
        # Records keep their own event time (an out-of-order one too), and outputs carry it.
        assert [r.value["ts"] for r in driver.output("out")] == [WALL - 5000, WALL - 1000, WALL - 3000]
        assert [r.timestamp for r in driver.output("out")] == [WALL - 5000, WALL - 1000, WALL - 3000]


def test_extractor_gives_event_time() -> None:
    seen: list[tuple[Any, Any, int]] = []

    def event_time(key: Any, value: Any, kafka_ts: int) -> int:
        seen.append((key, value, kafka_ts))
        return int(value["at"])

    with TopologyTestDriver(topology(timestamp=event_time), wall_time=WALL) as driver:
        driver.send("events", {"at": 1234}, key="k", timestamp=WALL - 1)
        assert seen == [("k", {"at": 1234}, WALL - 1)]
        assert driver.output("out")[0].value == {"ts": 1234}
        assert driver.output("out")[0].timestamp == 1234
        assert driver.stream_time() == 1234


def test_internal_topics_carry_event_time_to_the_downstream_task() -> None:
    t = Topology("et")
    t.spout("in", KafkaSpout("events", key_serde=StrSerde(), value_serde=JsonSerde(),
                             timestamp=lambda k, v, ts: v["at"]))
    t.bolt("stamp", Stamp).fields("in", "user")
    t.bolt("out", KafkaSink("out", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("stamp")
    with TopologyTestDriver(t, partitions=2, wall_time=WALL) as driver:
        driver.send("events", {"user": "u", "at": 777}, key="x", partition=0)
        downstream = [task for (sub, _), task in driver.tasks.items() if sub != 0]
        assert max(task.time.clock.time for task in downstream) == 777
        assert driver.output("out")[0].value == {"ts": 777}


@pytest.mark.parametrize(("extractor", "message"), [
    (lambda k, v, ts: v["missing"], "timestamp extractor '<lambda>' failed: KeyError"),
    (lambda k, v, ts: 12.5, "returned 12.5; it must return event time as an int"),
    (lambda k, v, ts: -1, "returned -1"),
])
def test_an_extractor_that_cannot_give_a_time_follows_the_error_policy(extractor: Any, message: str) -> None:
    with TopologyTestDriver(topology(timestamp=extractor), on_error="dlq", wall_time=WALL) as driver:
        driver.send("events", {"at": 1}, key="bad")
        [letter] = driver.dead_letters()
        assert message in letter.error
        assert letter.error_type == "TimestampError"
        assert letter.component == "in"
        assert driver.output("out") == []
        assert driver.stream_time() == -1


def test_a_negative_timestamp_fails_under_fail_with_a_clear_message() -> None:
    with TopologyTestDriver(topology(), wall_time=WALL) as driver:
        with pytest.raises(RecordFailedError) as failed:
            driver.send("events", {}, key="k", timestamp=-7)
        assert isinstance(failed.value.cause, TimestampError)
        assert "no usable timestamp (-7)" in str(failed.value)
        assert driver.committed == {}


def test_a_record_too_far_in_the_future_is_refused_counted_and_does_not_move_stream_time() -> None:
    with TopologyTestDriver(topology(), on_error="skip", wall_time=WALL, max_future_skew=60) as driver:
        driver.send("events", {}, key="a", timestamp=WALL + 59_000)
        assert driver.stream_time() == WALL + 59_000
        driver.send("events", {}, key="b", timestamp=WALL + 61_000)
        assert driver.stream_time() == WALL + 59_000
        assert [r.key for r in driver.output("out")] == ["a"]
        assert failures(driver) == 1
        # The bound moves with the wall clock.
        driver.advance_time(10)
        driver.send("events", {}, key="c", timestamp=WALL + 61_000)
        assert driver.stream_time() == WALL + 61_000
        assert failures(driver) == 1


def test_future_skew_under_fail_names_the_bound() -> None:
    with TopologyTestDriver(topology(), wall_time=WALL, max_future_skew=1) as driver:
        with pytest.raises(RecordFailedError) as failed:
            driver.send("events", {}, key="k", timestamp=WALL + 5000)
        assert isinstance(failed.value.cause, FutureTimestampError)
        assert "5000 ms ahead of the wall clock, more than the 1000 ms allowed (--max-future-skew)" in str(failed.value)


def test_stream_time_is_committed_with_the_state_and_restored() -> None:
    with TopologyTestDriver(topology(), wall_time=WALL) as driver:
        driver.send("events", {}, key="k", timestamp=5000)
        driver.checkpoint()
        driver.crash(lose_state=True)  # restored from the changelog alone
        assert driver.stream_time() == 5000
        # An older record after the restart does not move it back.
        driver.send("events", {}, key="k", timestamp=4000)
        assert driver.stream_time() == 5000
        driver.crash()  # from the local store; the uncommitted record is read again
        assert driver.stream_time() == 5000


def test_a_task_without_stores_keeps_stream_time_in_memory_only() -> None:
    with TopologyTestDriver(topology(StatelessStamp), wall_time=WALL) as driver:
        driver.send("events", {}, key="k", timestamp=5000)
        driver.checkpoint()
        driver.crash()
        assert driver.stream_time() == -1


def test_extractor_must_be_callable() -> None:
    with pytest.raises(TopologyError, match="timestamp= must be a function"):
        KafkaSpout("events", timestamp=5)  # type: ignore[arg-type]


def test_stream_time_reads_the_wall_clock_only_near_the_bound() -> None:
    reads: list[int] = []

    def wall() -> int:
        reads.append(1)
        return 10_000

    clock = StreamTime(TimeConfig(wall=wall, max_future_skew_ms=1000))
    assert len(reads) == 1
    clock.advance(10_500)
    assert len(reads) == 1 and clock.time == 10_500
    with pytest.raises(FutureTimestampError):
        clock.advance(11_001)
    assert len(reads) == 2 and clock.time == 10_500 and clock.future == 1
