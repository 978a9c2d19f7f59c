"""Word count: sentences -> split (shuffle) -> count (fields on the word) -> word-counts.

Contract used by the demo and the acceptance tests: input topic ``sentences`` (UTF-8 text, keys
ignored); output topic ``word-counts`` with key = the word and value = {"word": w, "count": n},
one record per occurrence carrying the updated count.
"""

from __future__ import annotations

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple


class SplitSentence(Bolt):
    output_fields = ("word",)

    def process(self, tup: Tuple) -> None:
        for word in tup.value.lower().split():
            self.emit({"word": word})


class CountWords(Bolt):
    stores = [Store("counts")]

    def process(self, tup: Tuple) -> None:
        counts = self.state("counts")
        count = counts.get(0) + 1
        counts.set(count)
        self.emit({"word": tup.key, "count": count}, key=tup.key)


class CountWordsInMemory(CountWords):
    """The same counts in a memory store: restored from the changelog whenever a worker takes a partition."""

    stores = [Store("counts", backend="memory")]


def build(name: str = "wordcount", source: str = "sentences", sink: str = "word-counts",
          backend: str = "rocksdb") -> Topology:
    """The word count with other names, so that tests can run many copies on one broker."""
    topology = Topology(name)
    topology.spout("sentences", KafkaSpout(source, value_serde=StrSerde()))
    topology.bolt("split", SplitSentence).shuffle("sentences")
    topology.bolt("count", CountWordsInMemory if backend == "memory" else CountWords).fields("split", "word")
    topology.bolt("sink", KafkaSink(sink, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("count")
    return topology


topology = build()
