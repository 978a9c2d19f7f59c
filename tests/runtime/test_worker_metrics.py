"""A real worker (in this process, on the embedded broker, with RocksDB) and what its metrics and
readiness endpoint say before, during and after processing."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from streamproc.metrics import RuntimeMetrics
from streamproc.monitoring.server import MonitoringServer
from streamproc.runtime.settings import WorkerSettings
from streamproc.runtime.worker import Worker
from tests.monitoring.test_server import get
from tests.support.kafka import FAST_GROUP, REPO, create_topic, produce, unique, wait_for

pytestmark = pytest.mark.integration


def wordcount_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wordcount_for_metrics", REPO / "topologies" / "wordcount.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Observed(RuntimeMetrics):
    """Asks the worker, and its HTTP endpoint, whether it is ready at the moment partitions are assigned:
    the tasks exist then, and nothing is restored or processing yet."""

    def __init__(self, topology: str) -> None:
        super().__init__(topology)
        self.worker: Worker | None = None
        self.port = 0
        self.at_assign: list[tuple[bool, str, int]] = []

    def rebalance(self, kind: str, tasks: int) -> None:
        super().rebalance(kind, tasks)
        if kind == "assign" and self.worker is not None:
            ready, reason = self.worker.readiness()
            self.at_assign.append((ready, reason, get(self.port, "/readyz")[0]))


def test_metrics_count_what_the_worker_did_and_readiness_follows_its_tasks(broker: str, tmp_path: Path) -> None:
    name = unique("wcm")
    source, sink = f"{name}-sentences", f"{name}-counts"
    create_topic(broker, source, 2)
    plan = wordcount_module().build(name, source, sink).build()
    metrics = Observed(name)
    settings = WorkerSettings(broker, name, state_dir=tmp_path / "state", commit_interval=0.3, on_error="dlq",
                              overrides=dict(FAST_GROUP))
    worker = Worker(plan, settings, metrics)
    server = MonitoringServer(metrics.registry, worker.readiness).start()
    metrics.worker, metrics.port = worker, server.port

    def value(metric: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(metric, {"topology": name, **labels})

    assert worker.readiness() == (False, "waiting for a partition assignment")
    assert get(server.port, "/readyz")[0::2] == (503, "not ready: waiting for a partition assignment\n")
    assert value("streamproc_ready") == 0

    sentences = [f"the fox {i % 7} jumps over dog {i % 3}" for i in range(300)]
    words = sum(len(s.split()) for s in sentences)
    produce(broker, source, [*sentences, b"\xff not utf-8"])
    failure: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="worker")
    thread.start()
    try:
        def processed() -> bool:
            assert not failure, failure
            read = value("streamproc_messages_consumed_total", component="sentences", topic=source)
            return read == len(sentences) + 1 and value("streamproc_messages_emitted_total", component="count") == words

        wait_for(processed, 60, "every sentence and word to be counted")
        assert value("streamproc_messages_emitted_total", component="split") == words
        internal = f"{name}-count-repartition"
        assert value("streamproc_messages_consumed_total", component="count", topic=internal) == words
        assert value("streamproc_dlq_messages_total", component="sentences") == 1
        assert value("streamproc_errors_total", component="sentences", type="SerdeError") == 1
        assert value("streamproc_messages_failed_total", policy="dlq") == 1

        status, _, body = get(server.port, "/readyz")
        assert (status, body) == (200, "ready: 4 tasks processing\n")
        assert value("streamproc_ready") == 1 and value("streamproc_tasks") == 4

        def measured() -> Any:
            lag = {(topic, p): value("streamproc_consumer_lag", topic=topic, partition=str(p))
                   for topic in (source, internal) for p in (0, 1)}
            keys = value("streamproc_state_keys", store="counts")
            return lag if all(v == 0 for v in lag.values()) and keys else None

        wait_for(measured, 30, "lag 0 on every input partition and the store's keys measured at a checkpoint tick")
        assert value("streamproc_state_bytes", store="counts") > 0  # type: ignore[operator]
        assert value("streamproc_checkpoints_total", result="ok") >= 1  # type: ignore[operator]
        assert value("streamproc_checkpoint_seconds_count") >= 1  # type: ignore[operator]
        assert value("streamproc_batch_seconds_count") >= 1  # type: ignore[operator]
        latency_samples = sum(value("streamproc_end_to_end_latency_seconds_count", component=c) or 0
                              for c in ("sentences", "count"))
        assert latency_samples >= 1
        assert value("streamproc_restore_records_remaining", store="counts") == 0
        assert value("streamproc_rebalances_total", kind="assign") == 1
        assert value("streamproc_commit_failures_total") == 0
    finally:
        worker.request_stop()
        thread.join(60)
        server.close()
    assert not thread.is_alive() and not failure, failure
    ready, reason, status = metrics.at_assign[0]
    assert (ready, status) == (False, 503)
    assert reason == "4 of 4 tasks not processing yet (restoring their state)"
    assert worker.readiness() == (False, "stopping")
