"""--guarantee exactly-once against a real broker: transactions commit outputs, changelogs and offsets together.

The embedded broker (Tansu) runs transactions and keeps read_committed readers behind an open one,
but it hands them the records of aborted transactions (README: "What the embedded broker does
differently"). So the tests here prove the
commit path on it: offsets advance only with a committed transaction, nothing of an aborted one
reaches state, a fenced worker stops. That consumers skip aborted output is proven only on Apache Kafka:
in the suite's Kafka half (STREAMPROC_TEST_BROKER=kafka), or on one named by STREAMPROC_TEST_BOOTSTRAP.
"""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer, TopicPartition

from streamproc import KafkaSink, KafkaSpout, StrSerde, Topology
from streamproc.errors import ProducerFencedError
from streamproc.kafka.clients import new_consumer
from streamproc.kafka.config import consumer_config, producer_config, restore_consumer_config
from streamproc.names import Names
from streamproc.plan import Plan
from streamproc.runtime.checkpoint import Checkpointer
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy
from streamproc.runtime.task import Task
from streamproc.runtime.transaction import Transactions
from streamproc.state.changelog import SOURCE_HEADER, encode_sources
from streamproc.state.partition import StorePartition
from streamproc.state.recovery import ChangelogRestorer
from streamproc.state.rocksdb import RocksDBBackend
from streamproc.state.store import is_reserved
from tests.support.bolts import Count
from tests.support.kafka import FAST_GROUP, TopicTail, committed, create_topic, read_all, unique, wait_for
from tests.support.wordcount import MakeRun, WordCountRun

pytestmark = pytest.mark.integration

REAL_KAFKA_ENV = "STREAMPROC_TEST_BOOTSTRAP"
EOS = ("--guarantee", "exactly-once")
KEYS = ["a", "b", "c"]


@pytest.fixture
def real_kafka(broker_kind: str, broker: str) -> str:
    """Apache Kafka: the suite's broker in its Kafka half, or one named by STREAMPROC_TEST_BOOTSTRAP."""
    if broker_kind == "kafka":
        return broker
    bootstrap = os.environ.get(REAL_KAFKA_ENV)
    if not bootstrap:
        pytest.skip(f"runs in the Apache Kafka half (STREAMPROC_TEST_BROKER=kafka), or set {REAL_KAFKA_ENV}="
                    "HOST:PORT. The embedded broker hands read_committed consumers the records of aborted "
                    "transactions, so it cannot show that they are skipped")
    return bootstrap


# --- the commit path, in process -------------------------------------------------------------------
class KeyedCount:
    """in (keyed by letter) -> count (store "counts") -> out, run as one task on partition 0 with a real
    consumer, a real transactional producer and real RocksDB, driven step by step."""

    def __init__(self, bootstrap: str, state_dir: Path) -> None:
        self.bootstrap = bootstrap
        self.name = unique("eos")
        self.source, self.sink = f"{self.name}-in", f"{self.name}-out"
        self.changelog = Names(self.name).changelog("counts")
        for topic in (self.source, self.sink, self.changelog):
            create_topic(bootstrap, topic, 1)
        topology = Topology(self.name)
        topology.spout("in", KafkaSpout(self.source, key_serde=StrSerde(), value_serde=StrSerde()))
        topology.bolt("count", Count).shuffle("in")
        topology.bolt("sink", KafkaSink(self.sink)).shuffle("count")
        self.plan: Plan = topology.build()
        self.state_dir = state_dir
        self.transactional_id = f"{self.name}-txn"
        self.fence_at_commit = False
        self.output = Output(config=producer_config(bootstrap, {}, "test", self.transactional_id, 20_000))
        self.consumer = new_consumer(consumer_config(bootstrap, self.name, FAST_GROUP, "test", exactly_once=True))
        self.transactions = Transactions(self.output, self._group_metadata)
        self.checkpointer = Checkpointer(self.output, self.transactions.commit)
        sub = self.plan.subtopology_of_topic()[self.source]
        self.task = Task(self.plan, sub, 0, self.plan.resolve_partitions({self.source: 1}), self.output,
                         ErrorPolicy("fail", Names(self.name).dlq(), self.output), state_dir)

    def _group_metadata(self) -> Any:
        if self.fence_at_commit:  # a newer producer takes the id between the flush and the offsets
            Producer({"bootstrap.servers": self.bootstrap, "transactional.id": self.transactional_id}
                     ).init_transactions(10)
        return self.consumer.consumer_group_metadata()

    def start(self, inputs: int) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap})
        for i in range(inputs):
            producer.produce(self.source, f"v{i}".encode(), KEYS[i % len(KEYS)].encode(), 0)
        assert producer.flush(10) == 0
        self.consumer.assign([TopicPartition(self.source, 0, 0)])
        self.transactions.start()

    def process(self, count: int) -> None:
        """Hand the next ``count`` input records to the task (the consumer holds them in order)."""
        done = 0
        while done < count:
            for msg in self.consumer.consume(count - done, 1.0):
                assert msg.error() is None, msg.error()
                self.task.readers[self.source].read(msg)
                done += 1

    def close(self) -> None:
        self.task.close()
        self.consumer.close()


def expected_counts(inputs: int) -> dict[str, int]:
    return dict(Counter(KEYS[i % len(KEYS)] for i in range(inputs)))


def restore(run: KeyedCount, committed_offset: int, state_dir: Path) -> tuple[dict[str, int], int]:
    """Restore the store partition into ``state_dir`` the way a worker does: (counts, records applied)."""
    spec = next(s for s in Count.stores if s.name == "counts")
    store = StorePartition(spec, RocksDBBackend.open(state_dir / "counts-0", state_dir), run.changelog, 0)
    applied: list[int] = []
    restorer = ChangelogRestorer(new_consumer(restore_consumer_config(run.bootstrap, run.name, {}, "test", True)),
                                 on_restored=lambda _store, records: applied.append(records))
    try:
        restorer.begin("task", store, {(run.source, 0): committed_offset})
        wait_for(lambda: "task" in restorer.step(0.2), 30, "the restore")
        counts = {key[2:].decode().strip('"'): int(value) for key, value in store.backend.iter_range(b"\x00")
                  if key.startswith(b"\x00")}
        return counts, sum(applied)
    finally:
        store.close()


def test_an_aborted_transaction_commits_no_offsets_and_never_reaches_state(broker: str, tmp_path: Path) -> None:
    run = KeyedCount(broker, tmp_path / "state")
    try:
        run.start(20)
        run.process(10)
        run.checkpointer.run([run.task])
        assert committed(broker, run.name, run.source, 1) == {0: 10}
        assert run.task.stores["counts"].get(b'\x00\x03"a"') == 4

        run.process(10)
        run.fence_at_commit = True
        with pytest.raises(ProducerFencedError, match=re.escape(f"transactional.id {run.transactional_id!r}")):
            run.checkpointer.run([run.task])
        # The changelog records and outputs were acknowledged, but their transaction never committed:
        assert committed(broker, run.name, run.source, 1) == {0: 10}
        counts = run.task.stores["counts"]
        assert counts.dirty_count == 0, "the write cache of the failed checkpoint must be discarded"
        assert counts.backend.get(b'\x00\x03"a"') == b"4", "RocksDB holds the last committed count"
    finally:
        run.close()

    # The changelog holds both transactions' records; a restore applies the committed one's only.
    written = read_all(broker, run.changelog, client={"isolation.level": "read_uncommitted"})
    assert len([m for m in written if not is_reserved(m.key())]) == 2 * len(KEYS)
    counts_restored, applied = restore(run, 10, tmp_path / "restored")
    assert counts_restored == expected_counts(10)
    assert applied == len(KEYS) + 1  # and the task's stream time, committed with them


def test_restore_skips_aborted_records_even_of_committed_inputs(real_kafka: str, tmp_path: Path) -> None:
    """A transaction aborted, then its inputs redone and committed: its changelog records now name
    committed inputs, so only read_committed can keep them out of a restore."""
    run = KeyedCount(real_kafka, tmp_path / "state")
    try:
        run.start(10)
        run.process(10)
        run.checkpointer.run([run.task])
    finally:
        run.close()
    ghost = Producer({"bootstrap.servers": real_kafka, "transactional.id": unique("ghost")})
    ghost.init_transactions(10)
    ghost.begin_transaction()
    ghost.produce(run.changelog, b"999", b'\x00\x07"ghost"', 0, headers=[(SOURCE_HEADER, encode_sources({
        (run.source, 0): 3}))])
    ghost.flush(10)
    ghost.abort_transaction(10)
    counts_restored, _ = restore(run, 10, tmp_path / "restored")
    assert counts_restored == expected_counts(10)


# --- whole processes ------------------------------------------------------------------------------
def worker_pid(running_log: str, worker: int = 0) -> int:
    return int(re.findall(rf"started worker {worker} \(pid (\d+)\)", running_log)[-1])


def transactional_ids(running_log: str) -> list[str]:
    return re.findall(r"\(exactly-once, transactional\.id (\S+)\)", running_log)


def kill_with_outputs_in_flight(wc: WordCountRun, sentences: int) -> tuple[int, int]:
    """Run the word count under exactly-once, SIGKILL its worker while it holds outputs in an open
    transaction, feed more once the supervisor restarted it, and stop when the counts are exact.

    The second feed makes exact counts depend on the state the restarted worker rebuilt (on a broker
    that shows aborted outputs, the killed transaction's alone would already look exact). Returns the
    output records a read_committed and a read_uncommitted reader see."""
    running = wc.start(*EOS, "--commit-interval", "4")  # a wide window for the kill
    open_outputs = TopicTail(wc.bootstrap, wc.sink, {**wc.client, "isolation.level": "read_uncommitted"})
    try:
        # Readers that asked for the output topic before it existed see records only seconds later: start
        # them once it exists, and feed only then, so they see the outputs while they are uncommitted.
        wait_for(lambda: f"created topic {wc.sink}" in running.log(), 60, "the output topic")
        open_outputs.poll()
        wc.latest_counts()
        wc.feed(sentences, seed=21)

        def in_flight() -> bool:
            open_outputs.poll()
            return len(open_outputs.records) > wc.latest_counts()[1]

        wait_for(in_flight, 90, "outputs of an open transaction", interval=0.05)
        os.kill(worker_pid(running.log()), signal.SIGKILL)
        wait_for(lambda: "worker 0 exited with -9; restarting" in running.log(), 30, "the supervisor to see the kill")
        wc.feed(sentences // 3, seed=22)
        wc.wait_exact(running, timeout=120)
    finally:
        open_outputs.close()
        assert running.stop() == 0
    ids = transactional_ids(running.log())
    assert len(ids) == 2 and ids[0] == ids[1], f"the restart must take over the killed worker's id: {ids}"
    return (len(read_all(wc.bootstrap, wc.sink, client=wc.client)),
            len(read_all(wc.bootstrap, wc.sink, client={**wc.client, "isolation.level": "read_uncommitted"})))


def test_sigkill_mid_transaction_keeps_state_exact(wordcount: MakeRun, broker: str) -> None:
    """The killed worker's transaction stays open until its successor, taking over its transactional id,
    aborts it; until then read_committed readers (the count task, the test) could not read past it."""
    wc = wordcount()
    kill_with_outputs_in_flight(wc, 3000)
    ends = Counter(m.partition() for m in read_all(broker, wc.source))
    assert committed(broker, wc.name, wc.source, 4) == dict(ends)


def test_consumers_skip_aborted_output(real_kafka: str, tmp_path: Path) -> None:
    wc = WordCountRun(real_kafka, tmp_path)
    try:
        visible, written = kill_with_outputs_in_flight(wc, 3000)
        records = read_all(real_kafka, wc.sink)
    finally:
        wc.close()
    assert written > visible, "the kill should have left outputs of an aborted transaction in the topic"
    assert visible == sum(wc.expected.values()), "each occurrence has exactly one visible output"
    counts: dict[str, list[int]] = {}
    for record in records:
        value = orjson.loads(record.value())
        counts.setdefault(value["word"], []).append(value["count"])
    assert all(sequence == list(range(1, len(sequence) + 1)) for sequence in counts.values())


def test_a_fenced_worker_stops_without_committing(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount(partitions=1)
    wc.feed(500, seed=23)
    running = wc.start(*EOS)
    try:
        wc.wait_exact(running)
        wait_for(lambda: committed(broker, wc.name, wc.source, 1) == {0: 500}, 30, "the first commit")
        [txn_id] = transactional_ids(running.log())
        Producer({"bootstrap.servers": broker, "transactional.id": txn_id}).init_transactions(10)  # takes the id
        wc.feed(300, seed=24)
        running.wait_log("worker 0 exited with 4; restarting", 60, "the fenced worker to stop")
        assert committed(broker, wc.name, wc.source, 1) == {0: 500}, "the fenced worker committed nothing"
        wc.wait_exact(running)  # the restarted worker redoes the 300 sentences
    finally:
        assert running.stop() == 0
    log = running.log()
    assert f"producer fenced (transactional.id '{txn_id}')" in log
    assert "Traceback" not in log
    assert committed(broker, wc.name, wc.source, 1) == {0: 800}
