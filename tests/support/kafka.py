"""Helpers for integration tests against the embedded broker: topics, producing, reading, waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streamproc.kafka.continuity import ContiguousConsumer

REPO = Path(__file__).resolve().parents[2]

#: The broker the tests run on: ``tansu`` (the embedded one) or ``kafka`` (Apache Kafka); see tests/conftest.py.
TEST_BROKER = os.environ.get("STREAMPROC_TEST_BROKER", "tansu")

#: Client settings every test worker uses. Tansu (streamproc.devbroker.CLIENT_SETTINGS says why): a group
#: join takes about half the session timeout; 6 s rather than 2 s keeps a loaded 2-core machine from
#: expiring sessions; a waiting fetch is not woken by new data, hence 10 ms. Apache Kafka answers a
#: waiting fetch as soon as data arrives, so 100 ms costs no latency and polls its CPU ten times less.
FAST_GROUP = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000",
              "fetch.wait.max.ms": "10" if TEST_BROKER == "tansu" else "100"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def create_topic(bootstrap: str, name: str, partitions: int, client: Mapping[str, Any] | None = None,
                 config: Mapping[str, str] | None = None, replicas: int | None = None) -> None:
    """``client``: extra librdkafka settings (TLS) for this and the helpers below; ``config``: topic settings.
    On Apache Kafka the topic gets the cluster's default replication factor (3 on the three-node cluster)
    unless ``replicas`` says otherwise; on Tansu, 1."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **(client or {})})
    if replicas is None:
        replicas = 1 if TEST_BROKER == "tansu" else -1
    topic = NewTopic(name, partitions, replicas, config=dict(config or {}))
    admin.create_topics([topic])[name].result()
    wait_for(lambda: name in admin.list_topics(timeout=5).topics, 10, f"topic {name} to appear")


def produce(bootstrap: str, topic: str, values: Iterable[bytes | str], partition: int | None = None,
            client: Mapping[str, Any] | None = None, flush_timeout: float = 30.0) -> int:
    # Idempotent: a batch retried across a broker failure or a cut connection (Kafka acknowledges it once
    # it is back) must not be written twice, or the input would hold sentences the test never counted.
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True,
                         **(client or {})})
    failed: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    count = 0
    for value in values:
        data = value.encode() if isinstance(value, str) else value
        if partition is None:
            producer.produce(topic, value=data, key=str(count).encode(), on_delivery=delivered)
        else:
            producer.produce(topic, value=data, partition=partition, on_delivery=delivered)
        count += 1
        if count % 10000 == 0:
            producer.poll(0)
    assert producer.flush(flush_timeout) == 0
    assert not failed, f"{len(failed)} of {count} records to {topic} were refused, first: {failed[0]}"
    return count


def contiguous_reads(consumer: Any, topic: str, partitions: Iterable[int]) -> ContiguousConsumer:
    """The runtime's consumer adapter over a test reader of ``topic`` read from offset 0: the embedded broker
    sometimes answers a fetch with a batch past one still being appended by another producer
    (streamproc.kafka.continuity), and a reader that believed it would miss records. On Apache Kafka
    nothing is checked, as in the runtime: its gaps are real (transaction markers, compaction), and reading
    each again cost a full-size exactly-once chaos run about 3,400 re-reads of its output."""
    adapter = ContiguousConsumer(consumer)
    if TEST_BROKER == "tansu":
        for partition in partitions:
            adapter.expect(topic, partition, 0)
    return adapter


def read_all(bootstrap: str, topic: str, timeout: float = 30.0, client: Mapping[str, Any] | None = None) -> list[Any]:
    """Every record of ``topic`` (all partitions, from the start, up to the end)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader"),
                         "enable.partition.eof": True, "enable.auto.commit": False, **(client or {})})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            return []
        partitions = list(metadata.partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        contiguous = contiguous_reads(consumer, topic, partitions)
        records: list[Any] = []
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(at_end) < len(partitions):
            if time.monotonic() > deadline:
                raise AssertionError(f"reading {topic} did not reach the end within {timeout:.0f}s")
            for msg in contiguous.admit(consumer.consume(1000, 0.2)):
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition())
                        continue
                    raise AssertionError(f"reading {topic}: {msg.error()}")
                at_end.discard(msg.partition())
                records.append(msg)
        return records
    finally:
        consumer.close()


class TopicTail:
    """Reads a topic incrementally with one long-lived consumer (cheap to poll often, unlike read_all)."""

    def __init__(self, bootstrap: str, topic: str, client: Mapping[str, Any] | None = None) -> None:
        self.topic = topic
        self.records: list[Any] = []
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("tail"),
                                   "enable.partition.eof": True, "enable.auto.commit": False,
                                   "fetch.wait.max.ms": 10, **(client or {})})
        self._partitions: list[int] = []
        self._at_end: set[int] = set()
        self._contiguous: ContiguousConsumer | None = None

    def _assign(self) -> bool:
        if not self._partitions:
            metadata = self._consumer.list_topics(self.topic, timeout=10).topics[self.topic]
            if metadata.error is not None or not metadata.partitions:
                return False
            self._partitions = list(metadata.partitions)
            self._consumer.assign([TopicPartition(self.topic, p, 0) for p in self._partitions])
            self._contiguous = contiguous_reads(self._consumer, self.topic, self._partitions)
        return True

    def poll(self) -> bool:
        """Read what is there now; True when every partition is at its end."""
        if not self._assign() or self._contiguous is None:
            return False
        while True:
            messages = self._consumer.consume(1000, 0.2)
            for msg in self._contiguous.admit(messages):
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        self._at_end.add(msg.partition())
                        continue
                    raise AssertionError(f"reading {self.topic}: {msg.error()}")
                self._at_end.discard(msg.partition())
                self.records.append(msg)
            if not messages:
                return len(self._at_end) == len(self._partitions)

    def close(self) -> None:
        self._consumer.close()


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """Committed offsets of ``group`` on ``topic`` (partitions without a commit are left out)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in found if tp.offset >= 0}
    finally:
        consumer.close()


class RunningTopology:
    """``streamproc run`` as a child process, logging to a file."""

    def __init__(self, target: Path | str, bootstrap: str, state_dir: Path, log_path: Path, *extra: str,
                 group: Mapping[str, str] = FAST_GROUP) -> None:
        """``group``: the client settings given first (the consumer group protocol of KIP-848 refuses
        session and heartbeat settings: the broker sets them)."""
        self.log_path = log_path
        command = [sys.executable, "-m", "streamproc.cli.main", "run", str(target), "--bootstrap-servers", bootstrap,
                   "--state-dir", str(state_dir), "--commit-interval", "0.5"]
        for key, value in group.items():
            command += ["-X", f"{key}={value}"]
        command += list(extra)
        self._log = open(log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO,
                                        start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float, what: str) -> None:
        """Wait until ``text`` is in the log; on timeout fail with ``what`` and the log's last lines, which are
        what a reader of a CI failure needs (the log file is gone with the test's directory)."""
        try:
            wait_for(lambda: text in self.log(), timeout, what)
        except AssertionError as exc:
            tail = "\n".join(self.log().splitlines()[-60:])
            raise AssertionError(f"{exc}; the worker's log ends:\n{tail}") from None

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (graceful: final checkpoint) and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._log.close()
        return code

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._log.close()
