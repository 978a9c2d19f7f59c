"""Consumer lag from the reader positions and the cached high watermarks (fakes: pure bookkeeping), and the
state sizes of real stores (through the test driver)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from streamproc import Bolt, JsonSerde, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.runtime.gauges import consumer_lag, pending_timers, state_sizes, stream_time_lag
from streamproc.state.rocksdb import RocksDBBackend
from streamproc.testing import TopologyTestDriver


class FakeReader:
    def __init__(self, next_offset: int | None) -> None:
        self.next_offset = next_offset


class FakeTask:
    def __init__(self, partition: int, **readers: FakeReader) -> None:
        self.partition = partition
        self.readers = readers


class FakeConsumer:
    """Answers only cached watermark lookups (a lookup that would ask the broker fails the test)."""

    def __init__(self, highs: dict[tuple[str, int], int]) -> None:
        self.highs = highs

    def get_watermark_offsets(self, tp: Any, cached: bool = False) -> tuple[int, int]:
        assert cached, "lag must come from the last fetch, never from a ListOffsets request"
        return 0, self.highs.get((tp.topic, tp.partition), -1001)


def test_lag_counts_from_the_next_offset_to_process_or_the_committed_offset() -> None:
    consumer = FakeConsumer({("a", 0): 100, ("a", 1): 50, ("b", 0): 7, ("a", 2): 30})
    tasks: list[Any] = [
        FakeTask(0, a=FakeReader(40), b=FakeReader(None)),  # b: nothing processed and nothing committed
        FakeTask(1, a=FakeReader(None)),  # nothing processed yet: counts from the committed offset
        FakeTask(2, a=FakeReader(35)),  # ahead of a stale watermark: never negative
        FakeTask(3, a=FakeReader(5)),  # never fetched (paused while restoring): unknown, left out
    ]
    lag = consumer_lag(consumer, tasks, {("a", 1): 10})
    assert lag == {("a", 0): 60, ("a", 1): 40, ("a", 2): 0}


class LastOrders(Bolt):
    """A total per customer (its own value) and its last five orders (five sub-keys)."""

    stores: ClassVar[list[Store]] = []

    def process(self, tup: Tuple) -> None:
        orders = self.state("orders")
        n = orders.get(0) + 1
        orders.set(n)
        orders[n] = tup.value
        if n > 5:
            del orders[n - 5]


@pytest.mark.parametrize("backend", ["rocksdb", "memory", "windowed"])
def test_state_keys_count_each_key_and_sub_key_once(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12.16: RocksDB's estimate said 0 for a map store of 2,500 sub-keys and 1,104 for 500 keys.
    (RocksDB counts by a scan of the keys at most every 30 s: at every ask here.)"""
    monkeypatch.setattr(RocksDBBackend, "RECOUNT_INTERVAL", 0.0)
    monkeypatch.setattr(RocksDBBackend, "RECOUNT_COST", 0.0)
    bolt = type("LastOrdersHere", (LastOrders,), {"stores": [Store("orders", backend=backend)]})
    topology = Topology("gauges")
    topology.spout("in", KafkaSpout("orders", key_serde=StrSerde(), value_serde=JsonSerde()))
    topology.bolt("last", bolt).fields("in", "customer")
    with TopologyTestDriver(topology, partitions=3) as driver:
        for round_ in range(8):  # 8 orders per customer: 3 of each deleted again, every total overwritten
            for customer in range(100):
                driver.send("orders", {"customer": f"c{customer}", "amount": round_}, key=f"c{customer}")
            driver.checkpoint()
            expected = 100 * (1 + min(round_ + 1, 5))
            assert state_sizes(driver.plan, driver.tasks.values())["orders"][0] == expected
        assert state_sizes(driver.plan, driver.tasks.values())["orders"][1] > 0


class Quiet(Bolt):
    def process(self, tup: Tuple) -> None:
        pass


def test_stream_time_lag_is_wall_clock_minus_stream_time_for_tasks_that_have_one() -> None:
    topology = Topology("lagged")
    topology.spout("in", KafkaSpout("events", key_serde=StrSerde(), value_serde=JsonSerde()))
    topology.bolt("quiet", Quiet).shuffle("in")
    wall = 1_700_000_000_000
    with TopologyTestDriver(topology, partitions=2, wall_time=wall) as driver:
        driver.send("events", {}, key="k", partition=1, timestamp=wall - 90_000)
        tasks = driver.manager.running()
        assert stream_time_lag(tasks, wall + 10_000) == {tasks[1].id: 100.0}


def test_pending_timers_count_each_bolts_timers_per_task_committed_or_not() -> None:
    from tests.runtime.test_timers import alerts

    wall = 1_700_000_000_000
    with TopologyTestDriver(alerts(), partitions=2, wall_time=wall) as driver:
        driver.send("events", {}, key="a", partition=0, timestamp=1000)
        driver.send("events", {"remind_at": wall + 5000}, key="b", partition=1, timestamp=1000)
        driver.checkpoint()
        driver.send("events", {}, key="c", partition=1, timestamp=2000)  # not committed yet
        tasks = driver.manager.running()
        assert pending_timers(tasks) == {(tasks[0].id, "alert"): 1, (tasks[1].id, "alert"): 3}
        driver.send("events", {}, key="d", partition=1, timestamp=20_000)  # fires b's and c's event timers
        assert pending_timers(tasks)[(tasks[1].id, "alert")] == 2  # b's wall timer and d's
