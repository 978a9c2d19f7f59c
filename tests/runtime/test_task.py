"""A task's record context: set for process(), cleared after it, and a callback context in flush() whose
emissions carry an origin that the dedupe of internal topics handles across replays."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from streamproc import Bolt, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.errors import CheckpointError, StateError
from streamproc.testing import TopologyTestDriver


class LastSeen(Bolt):
    """Writes state and emits from flush(): the bug was that both silently took the last tuple's key."""

    stores: ClassVar[list[Store]] = [Store("seen")]

    def process(self, tup: Tuple) -> None:
        self.state("seen").set(tup.value)

    def flush(self) -> None:
        self.state("seen").set("flushed")


def keyed_topology(bolt: type[Bolt]) -> Topology:
    topology = Topology("ctx")
    topology.spout("in", KafkaSpout("events", key_serde=StrSerde(), value_serde=StrSerde()))
    topology.bolt("b", bolt).shuffle("in")
    return topology


def test_state_in_flush_without_a_key_is_an_error_not_the_last_tuples_key() -> None:
    with TopologyTestDriver(keyed_topology(LastSeen)) as driver:
        driver.send("events", "one", key="k1")
        driver.send("events", "two", key="k2")
        with pytest.raises(StateError, match=r"flush\(\), where there is no current key.*key=\.\.\."):
            driver.checkpoint()
        assert driver.committed == {}  # the failed checkpoint wrote nothing, under no key


class FlushWithKey(Bolt):
    stores: ClassVar[list[Store]] = [Store("seen")]

    def process(self, tup: Tuple) -> None:
        self.state("seen").set(tup.value)

    def flush(self) -> None:
        self.state("seen", key="summary").set("flushed")
        self.emit("from flush", key="summary")


def test_state_and_emit_in_flush_take_an_explicit_key_and_no_timestamp_of_a_record() -> None:
    topology = keyed_topology(FlushWithKey)
    topology.bolt("sink", KafkaSink("out", key_serde=StrSerde(), value_serde=StrSerde())).shuffle("b")
    with TopologyTestDriver(topology) as driver:
        driver.send("events", "one", key="k1", timestamp=1_000)
        driver.checkpoint()
        assert driver.state("seen", "summary") == "flushed"
        assert driver.state("seen", "k1") == "one"
        [out] = driver.output("out")
        assert (out.key, out.value) == ("summary", "from flush")
        assert out.timestamp != 1_000  # not the last input's: the broker's time


def test_the_context_is_cleared_after_process() -> None:
    class Probe(Bolt):
        stores: ClassVar[list[Store]] = [Store("seen")]
        after: ClassVar[list[Any]] = []

        def process(self, tup: Tuple) -> None:
            self.state("seen").set(1)

        def teardown(self) -> None:
            Probe.after.append(self._current)
            try:
                self.state("seen").get()
            except StateError as exc:
                Probe.after.append(str(exc))

    with TopologyTestDriver(keyed_topology(Probe)) as driver:
        driver.send("events", "one", key="k1")
    assert Probe.after[0] is None
    assert "used outside process()" in Probe.after[1] and "key=..." in Probe.after[1]


class Route(Bolt):
    """Every word on the default stream; words starting with x also on "special"."""

    output_fields: ClassVar[dict[str, tuple[str, ...]]] = {"default": ("word",), "special": ("word",)}

    def process(self, tup: Tuple) -> None:
        self.emit({"word": tup.value})
        if tup.value.startswith("x"):
            self.emit({"word": tup.value}, stream="special")


class Pass(Bolt):
    output_fields = ("word",)

    def process(self, tup: Tuple) -> None:
        self.emit({"word": tup.value["word"]})


class Batch(Bolt):
    """Holds what it receives and emits it at the checkpoint."""

    output_fields = ("word",)

    def setup(self, context: object) -> None:
        self.held: list[str] = []

    def process(self, tup: Tuple) -> None:
        self.held.append(tup.value["word"])

    def flush(self) -> None:
        for word in self.held:
            self.emit({"word": word})
        self.held.clear()


class Total(Bolt):
    stores: ClassVar[list[Store]] = [Store("totals")]

    def process(self, tup: Tuple) -> None:
        state = self.state("totals")
        state.set(state.get(0) + 1)


def batching_topology() -> Topology:
    """route -> pass (every word) and batch (x-words, emitted at flush) -> one repartition -> total."""
    topology = Topology("batching")
    topology.spout("in", KafkaSpout("words", value_serde=StrSerde()))
    topology.bolt("route", Route).shuffle("in")
    topology.bolt("pass", Pass).shuffle("route")
    topology.bolt("batch", Batch).shuffle(("route", "special"))
    topology.bolt("total", Total).fields("pass", "word").fields("batch", "word")
    return topology


def test_flush_emissions_are_not_taken_for_replays_of_a_later_record() -> None:
    """Emitted under the origin of the batch bolt's last tuple (offset 0), the flushed record looked like a
    replay to the downstream task, which had applied offset 1 already: it was dropped."""
    with TopologyTestDriver(batching_topology()) as driver:
        driver.send("words", "xa")
        driver.send("words", "b")
        driver.checkpoint()
        assert driver.state("totals", "xa") == 2  # once from pass, once from batch's flush
        assert driver.state("totals", "b") == 1


def test_a_replayed_checkpoint_with_flush_emissions_counts_everything_once() -> None:
    """The flush's records reach the repartition topic, then the offset commit fails and the worker dies:
    the replay flushes at the same input position, and downstream skips the copies."""
    with TopologyTestDriver(batching_topology()) as driver:
        for word in ["xa", "b", "xc"]:
            driver.send("words", word)
        driver.checkpoint()
        for word in ["xa", "xd", "e"]:
            driver.send("words", word)

        def commit_fails(offsets: object) -> None:
            raise RuntimeError("coordinator gone")

        committed = driver.committed
        driver.checkpointer._commit = commit_fails
        with pytest.raises(CheckpointError):
            driver.checkpoint()
        assert driver.committed == committed
        assert len(driver.records("batching-total-repartition")) == 6 + 4  # the flush's records were sent
        driver.checkpointer._commit = driver._commit
        driver.crash(lose_state=True)  # the replay: inputs 3-5 again, restored from the changelog
        driver.checkpoint()
        assert len(driver.records("batching-total-repartition")) == 10 + 5  # written again
        totals = {w: driver.state("totals", w) for w in ["xa", "b", "xc", "xd", "e"]}
        assert totals == {"xa": 4, "b": 1, "xc": 2, "xd": 2, "e": 1}


def test_flush_after_a_failed_record_does_not_write_under_its_key() -> None:
    class Fails(Bolt):
        stores: ClassVar[list[Store]] = [Store("seen")]

        def process(self, tup: Tuple) -> None:
            raise ValueError("bad")

        def flush(self) -> None:
            self.state("seen").set("flushed")

    with TopologyTestDriver(keyed_topology(Fails), on_error="skip") as driver:
        driver.send("events", "one", key="k1")
        with pytest.raises(StateError, match="no current key"):
            driver.checkpoint()
        assert driver.state("seen", "k1") is None
