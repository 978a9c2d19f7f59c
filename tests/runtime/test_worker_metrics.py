"""Real workers (in this process, on the embedded broker, with RocksDB) and what their metrics and
readiness endpoint say before, during and after processing and restoring."""

from __future__ import annotations

import importlib.util
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from streamproc import Bolt, JsonSerde, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.metrics import RuntimeMetrics
from streamproc.monitoring.server import MonitoringServer
from streamproc.plan import Plan
from streamproc.runtime.settings import WorkerSettings
from streamproc.runtime.worker import Worker
from tests.monitoring.test_server import get
from tests.support.kafka import FAST_GROUP, REPO, create_topic, produce, unique, wait_for

pytestmark = pytest.mark.integration


def wordcount_plan(name: str, source: str, sink: str) -> Plan:
    spec = importlib.util.spec_from_file_location("wordcount_for_metrics", REPO / "topologies" / "wordcount.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plan: Plan = module.build(name, source, sink).build()
    return plan


class Observed(RuntimeMetrics):
    """Asks the worker, and its HTTP endpoint, whether it is ready at two moments it cannot be: when
    partitions are assigned (tasks exist, nothing restored or processing yet) and while a store is
    being restored; and what the restorer reports as its progress then."""

    def __init__(self, topology: str) -> None:
        super().__init__(topology)
        self.worker: Worker | None = None
        self.port = 0
        self.at_assign: list[tuple[bool, str, int]] = []
        self.while_restoring: list[tuple[bool, str, int, dict[str, tuple[int, int]]]] = []

    def rebalance(self, kind: str, tasks: int) -> None:
        super().rebalance(kind, tasks)
        if kind == "assign" and self.worker is not None:
            ready, reason = self.worker.readiness()
            self.at_assign.append((ready, reason, get(self.port, "/readyz")[0]))

    def restored(self, store: str, records: int) -> None:
        super().restored(store, records)
        if self.worker is not None and records:
            ready, reason = self.worker.readiness()
            progress = self.worker.restorer.progress()
            self.while_restoring.append((ready, reason, get(self.port, "/readyz")[0], progress))


@contextmanager
def running(plan: Plan, settings: WorkerSettings) -> Iterator[tuple[Observed, MonitoringServer]]:
    """A worker on a thread with its endpoint; stopped (final checkpoint) on exit, which must be clean."""
    metrics = Observed(plan.name)
    worker = Worker(plan, settings, metrics)
    server = MonitoringServer(metrics.registry, worker.readiness).start()
    metrics.worker, metrics.port = worker, server.port
    failure: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="worker")
    started = False
    try:
        assert worker.readiness() == (False, "waiting for a partition assignment")
        assert get(server.port, "/readyz")[0::2] == (503, "not ready: waiting for a partition assignment\n")
        assert metrics.registry.get_sample_value("streamproc_ready", {"topology": plan.name}) == 0
        thread.start()
        started = True
        yield metrics, server
        assert not failure, failure
    finally:
        worker.request_stop()
        if started:
            thread.join(60)
        server.close()
    assert not thread.is_alive() and not failure, failure
    assert worker.readiness() == (False, "stopping")


def test_metrics_count_what_the_worker_did_and_readiness_follows_its_tasks(broker: str, tmp_path: Path) -> None:
    name = unique("wcm")
    source, internal = f"{name}-sentences", f"{name}-count-repartition"
    create_topic(broker, source, 2)
    plan = wordcount_plan(name, source, f"{name}-counts")
    settings = WorkerSettings(broker, name, state_dir=tmp_path / "state", commit_interval=0.3, on_error="dlq",
                              overrides=dict(FAST_GROUP))
    sentences = [f"the fox {i % 7} jumps over dog {i % 3}" for i in range(300)]
    words = sum(len(s.split()) for s in sentences)
    produce(broker, source, [*sentences, b"\xff not utf-8"])

    with running(plan, settings) as (metrics, server):
        def value(metric: str, **labels: str) -> Any:
            return metrics.registry.get_sample_value(metric, {"topology": name, **labels})

        def processed() -> bool:
            read = value("streamproc_messages_consumed_total", component="sentences", topic=source)
            return read == len(sentences) + 1 and value("streamproc_messages_emitted_total", component="count") == words

        wait_for(processed, 60, "every sentence and word to be counted")
        assert value("streamproc_messages_emitted_total", component="split") == words
        assert value("streamproc_messages_consumed_total", component="count", topic=internal) == words
        assert value("streamproc_dlq_messages_total", component="sentences") == 1
        assert value("streamproc_errors_total", component="sentences", type="SerdeError") == 1
        assert value("streamproc_messages_failed_total", policy="dlq") == 1

        assert get(server.port, "/readyz")[0::2] == (200, "ready: 4 tasks processing\n")
        assert value("streamproc_ready") == 1 and value("streamproc_tasks") == 4

        def measured() -> Any:
            lag = [value("streamproc_consumer_lag", topic=topic, partition=str(p))
                   for topic in (source, internal) for p in (0, 1)]
            return all(v == 0 for v in lag) and value("streamproc_state_keys", store="counts")

        wait_for(measured, 30, "lag 0 on every input partition and the store's keys measured at a checkpoint tick")
        assert value("streamproc_state_bytes", store="counts") > 0
        assert value("streamproc_checkpoints_total", result="ok", reason="interval") >= 1
        assert value("streamproc_checkpoint_seconds_count") >= 1
        assert value("streamproc_batch_seconds_count") >= 1
        latency = sum(value("streamproc_end_to_end_latency_seconds_count", component=c) or 0
                      for c in ("sentences", "count"))
        assert latency >= 1
        assert value("streamproc_restore_records_remaining", store="counts") == 0
        assert value("streamproc_restored_records_total", store="counts") is None  # nothing to restore
        assert value("streamproc_rebalances_total", kind="assign") == 1
        assert value("streamproc_commit_failures_total") == 0
    ready, reason, status = metrics.at_assign[0]
    # The two stateless tasks run at once; the two counting ones restore first.
    assert (ready, reason, status) == (False, "2 of 4 tasks not processing yet (restoring their state)", 503)

    # Local state lost: the next worker restores the store from its changelog before it is ready.
    shutil.rmtree(settings.state_dir)
    with running(plan, settings) as (metrics, server):
        wait_for(lambda: get(server.port, "/readyz")[0] == 200, 60, "the restored worker to be ready")
        restored = metrics.registry.get_sample_value("streamproc_restored_records_total",
                                                     {"topology": name, "store": "counts"})
        assert restored is not None and restored > 0
    assert metrics.while_restoring, "the restore applied no records"
    ready, reason, status, progress = metrics.while_restoring[0]
    assert (ready, status) == (False, 503)
    assert reason.endswith("tasks not processing yet (restoring their state)")
    partitions, _left = progress["counts"]
    assert partitions >= 1


class Remind(Bolt):
    """Keeps each key's last event time in a TTL store (10 s of stream time) and schedules a far timer for it."""

    stores = [Store("last", ttl=10)]

    def process(self, tup: Tuple) -> None:
        self.state("last").set(tup.timestamp)
        self.timers.at_event_time(tup.timestamp + 1_000_000)

    def on_timer(self, key: Any, when: int, kind: str) -> None:
        pass


def test_time_metrics_of_a_worker_stream_time_lag_pending_timers_expired_keys(broker: str, tmp_path: Path) -> None:
    name = unique("tm")
    source = f"{name}-in"
    create_topic(broker, source, 1)
    topology = Topology(name)
    topology.spout("in", KafkaSpout(source, key_serde=StrSerde(), value_serde=JsonSerde()))
    topology.bolt("remind", Remind).shuffle("in")
    settings = WorkerSettings(broker, name, state_dir=tmp_path / "state", commit_interval=0.3,
                              overrides=dict(FAST_GROUP), max_cache_entries=1)
    producer = Producer({"bootstrap.servers": broker})
    for key, ts in (("a", 1_000), ("b", 2_000), ("c", 15_000)):  # c moves stream time past a's and b's expiry
        producer.produce(source, value=b"{}", key=key.encode(), partition=0, timestamp=ts)
    assert producer.flush(30) == 0

    with running(topology.build(), settings) as (metrics, _):
        def value(metric: str, **labels: str) -> Any:
            return metrics.registry.get_sample_value(metric, {"topology": name, **labels})

        wait_for(lambda: value("streamproc_expired_keys_total", component="remind", store="last") == 2, 60,
                 "a and b to expire and their tombstones to commit")
        wait_for(lambda: value("streamproc_pending_timers", task="0_0", component="remind") == 3, 60,
                 "the pending timers measured at a checkpoint tick")
        lag = value("streamproc_stream_time_lag_seconds", task="0_0")
        assert abs(lag - (time.time() - 15)) < 600, lag  # wall clock minus stream time (15 s after the epoch)
        assert value("streamproc_checkpoints_total", result="ok", reason="write-cache") >= 1
