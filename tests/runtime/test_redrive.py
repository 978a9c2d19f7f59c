"""A re-driven dead letter is applied in place of its dead-lettered original only, never in addition to it."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.kafka.memory import MemoryBroker
from streamproc.runtime.redrive import DEAD_PREFIX, REDRIVE_HEADER, RedriveGuard
from streamproc.testing import TopologyTestDriver


class Total(Bolt):
    stores = [Store("totals")]
    strict: ClassVar[bool] = True

    def process(self, tup: Tuple) -> None:
        if self.strict and tup.value["n"] < 0:
            raise ValueError(f"negative amount {tup.value['n']}")
        totals = self.state("totals")
        totals.set(totals.get(0) + tup.value["n"])
        self.emit(totals.get(0), key=tup.key)


def totals() -> Topology:
    topology = Topology("totals")
    topology.spout("in", KafkaSpout("orders", key_serde=StrSerde(), value_serde=JsonSerde()))
    topology.bolt("total", Total).shuffle("in")
    topology.bolt("out", KafkaSink("out")).shuffle("total")
    return topology


def copy_of(offset: int) -> list[tuple[str, bytes | None]]:
    return [(REDRIVE_HEADER, f"orders:0:{offset}".encode()), ("trace", b"t")]


def test_a_copy_is_applied_once_in_place_of_its_dead_lettered_original(tmp_path: Path) -> None:
    Total.strict = True
    with TopologyTestDriver(totals(), on_error="dlq", state_dir=tmp_path) as driver:
        driver.send("orders", {"n": 5}, key="c", partition=0)
        driver.send("orders", {"n": -2}, key="c", partition=0)  # offset 1: dead-lettered
        assert driver.state("totals", "c") == 5 and len(driver.dead_letters()) == 1
        Total.strict = False  # the fix
        driver.send("orders", {"n": -2}, key="c", partition=0, headers=copy_of(1))  # the re-driven copy
        assert driver.state("totals", "c") == 3
        driver.send("orders", {"n": -2}, key="c", partition=0, headers=copy_of(1))  # re-driven twice by mistake
        driver.send("orders", {"n": 5}, key="c", partition=0, headers=copy_of(0))  # a copy of a processed input
        assert driver.state("totals", "c") == 3
        guard = driver.tasks[(0, 0)].guard
        assert guard is not None and guard.skipped == 2 and guard.pending == {b"orders:0:1": False}
        result = driver.checkpointer.run(driver.manager.running())  # what the worker's metric counts
        assert result.redriven_skipped == 2 and guard.skipped == 0


def test_the_set_of_dead_lettered_origins_is_committed_with_the_state(tmp_path: Path) -> None:
    Total.strict = True
    broker = MemoryBroker()
    with TopologyTestDriver(totals(), on_error="dlq", state_dir=tmp_path, broker=broker) as driver:
        driver.send("orders", {"n": -7}, key="c", partition=0)
        driver.checkpoint()
    Total.strict = False
    with TopologyTestDriver(totals(), on_error="dlq", state_dir=tmp_path, broker=broker) as driver:  # a restart
        driver.send("orders", {"n": 1}, key="c", partition=0, headers=copy_of(0))
        assert driver.state("totals", "c") == 1
        driver.checkpoint()
    with TopologyTestDriver(totals(), on_error="dlq", state_dir=tmp_path, broker=broker) as driver:  # and another
        driver.send("orders", {"n": 1}, key="c", partition=0, headers=copy_of(0))  # the copy was applied before
        assert driver.state("totals", "c") == 1


def test_a_copy_that_fails_again_puts_its_root_origin_back() -> None:
    Total.strict = True
    with TopologyTestDriver(totals(), on_error="dlq") as driver:
        driver.send("orders", {"n": -1}, key="c", partition=0)
        driver.send("orders", {"n": -1}, key="c", partition=0, headers=copy_of(0))  # re-driven, still broken
        assert len(driver.dead_letters()) == 2
        assert driver.tasks[(0, 0)].guard.pending == {b"orders:0:0": True}  # type: ignore[union-attr]
        Total.strict = False
        driver.send("orders", {"n": -1}, key="c", partition=0, headers=copy_of(0))  # the copy of the copy
        assert driver.state("totals", "c") == -1


def test_a_stateless_task_applies_every_copy() -> None:
    topology = Topology("stateless")
    topology.spout("in", KafkaSpout("orders", key_serde=StrSerde(), value_serde=JsonSerde()))
    topology.bolt("out", KafkaSink("out")).shuffle("in")
    with TopologyTestDriver(topology) as driver:
        driver.send("orders", {"n": 1}, key="c", partition=0, headers=copy_of(0))
        assert len(driver.output("out")) == 1


def test_the_guard_stages_one_entry_per_change_and_reads_the_rest_from_the_state() -> None:
    stored = {b"t:0:1"}
    guard = RedriveGuard(lambda root: root in stored)
    guard.dead_lettered(b"t:0:4")
    assert guard.admit(b"t:0:1", "t", 0, 9) and not guard.admit(b"t:0:1", "t", 0, 10)  # applied once
    assert not guard.admit(b"t:0:2", "t", 0, 11)
    assert guard.staged() == {DEAD_PREFIX + b"t:0:4": b"1", DEAD_PREFIX + b"t:0:1": b""}
