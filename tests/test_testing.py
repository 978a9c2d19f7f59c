"""The in-process driver, and through it the routing of every grouping and error policy."""

from __future__ import annotations

import pytest

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.testing import RecordFailedError, TopologyTestDriver
from tests.support.bolts import Count, Passthrough, wordcount


def test_word_count_state_and_outputs() -> None:
    with TopologyTestDriver(wordcount(), partitions=3) as driver:
        for sentence in ["a b a", "b c", "a"]:
            driver.send("sentences", sentence)
        assert driver.state("counts", "a") == 3
        assert driver.state("counts", "b") == 2
        assert driver.state("counts", "zzz", default=0) == 0
        latest = {r.key: r.value["count"] for r in driver.output("out")}
        assert latest == {"a": 3, "b": 2, "c": 1}
        assert len(driver.output("out")) == 6


def test_fields_grouping_sends_equal_keys_to_one_partition() -> None:
    with TopologyTestDriver(wordcount(), partitions=4) as driver:
        for i in range(40):
            driver.send("sentences", f"w{i % 7} w{i % 5}", partition=i % 4)
        partitions: dict[str, set[int]] = {}
        for record in driver.records("wc-count-repartition"):
            partitions.setdefault(record.key().decode(), set()).add(record.partition())
        assert len(partitions) == 7
        assert all(len(p) == 1 for p in partitions.values())
        assert len({p for ps in partitions.values() for p in ps}) > 1


class Tag(Bolt):
    def setup(self, context: object) -> None:
        self.partition = context.partition

    def process(self, tup: Tuple) -> None:
        self.emit({"seen_by": self.partition, "value": tup.value})


def test_all_global_and_custom_groupings() -> None:
    topology = Topology("g")
    topology.spout("in", KafkaSpout("events", value_serde=JsonSerde()))
    topology.bolt("everyone", Tag).all("in")
    topology.bolt("one", Tag).global_("in")
    topology.bolt("mine", Tag).custom("in", lambda tup, n: tup.value["to"] % n)
    topology.bolt("sink_all", KafkaSink("all-out")).shuffle("everyone")
    topology.bolt("sink_one", KafkaSink("one-out")).shuffle("one")
    topology.bolt("sink_mine", KafkaSink("mine-out")).shuffle("mine")
    with TopologyTestDriver(topology, partitions=3) as driver:
        driver.send("events", {"to": 5})
        assert sorted(r.value["seen_by"] for r in driver.output("all-out")) == [0, 1, 2]
        assert [r.value["seen_by"] for r in driver.output("one-out")] == [0]
        assert [r.value["seen_by"] for r in driver.output("mine-out")] == [2]


class Router(Bolt):
    output_fields = {"default": ["n"], "odd": ["n"]}

    def process(self, tup: Tuple) -> None:
        self.emit({"n": tup.value}, stream="odd" if tup.value % 2 else "default")


def test_named_streams() -> None:
    topology = Topology("s")
    topology.spout("in", KafkaSpout("nums", value_serde=JsonSerde()))
    topology.bolt("route", Router).shuffle("in")
    topology.bolt("evens", KafkaSink("evens")).shuffle("route")
    topology.bolt("odds", KafkaSink("odds")).shuffle(("route", "odd"))
    with TopologyTestDriver(topology) as driver:
        for n in range(5):
            driver.send("nums", n)
        assert [r.value["n"] for r in driver.output("evens")] == [0, 2, 4]
        assert [r.value["n"] for r in driver.output("odds")] == [1, 3]


class Explodes(Bolt):
    stores = [Store("seen")]

    def process(self, tup: Tuple) -> None:
        if tup.value == "boom":
            raise ValueError("cannot handle boom")
        self.emit(tup.value, key=tup.value)


def explosive() -> Topology:
    topology = Topology("e")
    topology.spout("in", KafkaSpout("words", value_serde=StrSerde()))
    topology.bolt("explodes", Explodes).shuffle("in")
    topology.bolt("sink", KafkaSink("out")).shuffle("explodes")
    return topology


def test_dlq_policy_keeps_the_original_bytes_and_origin() -> None:
    with TopologyTestDriver(explosive(), on_error="dlq") as driver:
        driver.send("words", "ok")
        driver.send("words", "boom", headers=[("trace", b"1")])
        driver.send("words", b"\xff", raw=True)
        driver.send("words", "fine")
        assert [r.value for r in driver.output("out")] == ["ok", "fine"]
        dead = driver.dead_letters()
        assert [m.value for m in dead] == [b"boom", b"\xff"]
        assert dead[0].headers == [("trace", b"1")]
        assert (dead[0].component, dead[0].error_type, dead[0].topic, dead[0].offset) == (
            "explodes", "ValueError", "words", 1)
        assert dead[1].component == "in"
        driver.checkpoint()
        assert driver.committed[("words", 0)] == 4


def test_fail_policy_stops_before_committing_the_message() -> None:
    with TopologyTestDriver(explosive()) as driver:
        driver.send("words", "ok")
        with pytest.raises(RecordFailedError, match=r"'explodes' failed.*words\[0\]@1.*on_error='fail'") as failed:
            driver.send("words", "boom")
        assert (failed.value.component, failed.value.offset, type(failed.value.cause)) == ("explodes", 1, ValueError)
        driver.checkpoint()
        assert driver.committed == {("words", 0): 1}


def test_skip_policy_and_runtime_fields_errors() -> None:
    topology = Topology("f")
    topology.spout("in", KafkaSpout("items", value_serde=JsonSerde()))
    topology.bolt("count", Count).fields("in", "word")
    with TopologyTestDriver(topology, on_error="skip") as driver:
        driver.send("items", {"word": "a"})
        driver.send("items", ["not", "a", "dict"])
        driver.send("items", {"word": "a"})
        assert driver.state("counts", "a") == 2
        assert driver.policy.skipped == 1
    with TopologyTestDriver(topology) as driver, pytest.raises(RecordFailedError, match="needs a dict value"):
        driver.send("items", "text")


def test_bolt_instances_are_per_task() -> None:
    class Counter(Passthrough):
        def __init__(self) -> None:
            self.seen = 0

        def process(self, tup: Tuple) -> None:
            self.seen += 1
            self.emit(self.seen)

    topology = Topology("i")
    topology.spout("in", KafkaSpout("xs", value_serde=JsonSerde()))
    topology.bolt("c", Counter()).shuffle("in")
    topology.bolt("sink", KafkaSink("out")).shuffle("c")
    with TopologyTestDriver(topology, partitions=2) as driver:
        for p in (0, 1, 0):
            driver.send("xs", 1, partition=p)
        assert [r.value for r in driver.output("out")] == [1, 1, 2]  # each partition counts on its own
