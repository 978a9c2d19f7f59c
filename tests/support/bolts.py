"""Small bolts, and the word-count topology built from them, shared by unit tests."""

from __future__ import annotations

from streamproc import Bolt, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple


class Passthrough(Bolt):
    def process(self, tup: Tuple) -> None:
        self.emit(tup.value, key=tup.key)


class Split(Bolt):
    output_fields = ("word",)

    def process(self, tup: Tuple) -> None:
        for word in tup.value.split():
            self.emit({"word": word})


class Count(Bolt):
    stores = [Store("counts")]

    def process(self, tup: Tuple) -> None:
        counts = self.state("counts")
        counts.set(counts.get(0) + 1)
        self.emit({"word": tup.key, "count": counts.get()}, key=tup.key)


def wordcount() -> Topology:
    """sentences -> split (shuffle) -> count (fields on the word) -> out, named "wc"."""
    topology = Topology("wc")
    topology.spout("in", KafkaSpout("sentences", value_serde=StrSerde()))
    topology.bolt("split", Split).shuffle("in")
    topology.bolt("count", Count).fields("split", "word")
    topology.bolt("sink", KafkaSink("out")).shuffle("count")
    return topology
