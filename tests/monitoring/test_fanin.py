"""The supervisor's endpoint over real HTTP, in front of real worker endpoints (RuntimeMetrics registries)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamproc.errors import ProcessingError
from streamproc.metrics import RuntimeMetrics
from streamproc.monitoring.fanin import SupervisorMonitor
from streamproc.monitoring.server import MonitoringServer
from tests.monitoring.test_server import Flag, get


class FakeWorker:
    """A worker's endpoint exactly as run_worker serves it, with metrics and readiness the test sets."""

    def __init__(self) -> None:
        self.metrics = RuntimeMetrics("topo")
        self.ready = Flag()
        self.server = MonitoringServer(self.metrics.registry, self.ready).start()


@pytest.fixture
def workers() -> Iterator[list[FakeWorker]]:
    made = [FakeWorker(), FakeWorker()]
    yield made
    for worker in made:
        worker.server.close()


@pytest.fixture
def monitor() -> Iterator[SupervisorMonitor]:
    running = SupervisorMonitor("topo", 2, "127.0.0.1", 0, timeout=2.0).start()
    yield running
    running.close()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_of_every_worker_are_served_once_each_with_a_worker_label(
        workers: list[FakeWorker], monitor: SupervisorMonitor) -> None:
    workers[0].metrics.consumed_tally("in", "spout").count = 3
    workers[1].metrics.consumed_tally("in", "spout").count = 5
    workers[1].metrics.failed("dlq", ProcessingError("split", ValueError("bad")))
    for index, worker in enumerate(workers):
        monitor.worker_listening(index, worker.server.port)
    status, _, body = get(monitor.port, "/metrics")
    assert status == 200
    found = samples(body)
    base = {("topology", "topo"), ("component", "spout"), ("topic", "in")}
    assert found[("streamproc_messages_consumed_total", frozenset({*base, ("worker", "0")}))] == 3
    assert found[("streamproc_messages_consumed_total", frozenset({*base, ("worker", "1")}))] == 5
    dlq = frozenset({("topology", "topo"), ("component", "split"), ("worker", "1")})
    assert found[("streamproc_dlq_messages_total", dlq)] == 1
    errors = frozenset({("topology", "topo"), ("component", "split"), ("type", "ValueError"), ("worker", "1")})
    assert found[("streamproc_errors_total", errors)] == 1
    assert found[("streamproc_workers_alive", frozenset({("topology", "topo")}))] == 0  # nobody told it yet
    # One family per name, whatever the number of workers (a second TYPE line is a parse error for Prometheus).
    type_lines = [line for line in body.splitlines() if line.startswith("# TYPE ")]
    assert len(type_lines) == len(set(type_lines))
    assert "# TYPE streamproc_messages_consumed_total counter" in type_lines


def test_a_worker_that_does_not_answer_is_left_out_and_counted(
        workers: list[FakeWorker], monitor: SupervisorMonitor) -> None:
    workers[0].metrics.consumed_tally("in", "spout").count = 3
    monitor.worker_listening(0, workers[0].server.port)
    monitor.worker_listening(1, workers[1].server.port)
    workers[1].server.close()
    status, _, body = get(monitor.port, "/metrics")
    assert status == 200
    found = samples(body)
    consumed = [dict(labels) for name, labels in found if name == "streamproc_messages_consumed_total"]
    workers_seen = {labels.get("worker") for labels in consumed}
    assert workers_seen == {"0"}
    assert found[("streamproc_worker_scrape_failures_total", frozenset({("topology", "topo")}))] == 1


def test_ready_only_when_every_worker_is_listening_and_ready(
        workers: list[FakeWorker], monitor: SupervisorMonitor) -> None:
    status, _, body = get(monitor.port, "/readyz")
    assert status == 503 and "worker 0: starting" in body and "worker 1: starting" in body

    monitor.worker_listening(0, workers[0].server.port)
    monitor.worker_listening(1, workers[1].server.port)
    workers[0].ready.ready, workers[0].ready.reason = True, "2 tasks processing"
    status, _, body = get(monitor.port, "/readyz")
    assert status == 503
    assert "worker 0: ready: 2 tasks processing" in body and "worker 1: not ready: restoring" in body

    workers[1].ready.ready = True
    assert get(monitor.port, "/readyz")[0] == 200

    monitor.worker_exited(1)  # a crash: not ready until its replacement is
    status, _, body = get(monitor.port, "/readyz")
    assert status == 503 and "worker 1: starting" in body
    monitor.worker_started(1, restart=True)
    monitor.worker_listening(1, workers[1].server.port)
    assert get(monitor.port, "/readyz")[0] == 200
    assert samples(get(monitor.port, "/metrics")[2])[
        ("streamproc_worker_restarts_total", frozenset({("topology", "topo")}))] == 1

    monitor.stopping()
    assert get(monitor.port, "/readyz")[0::2] == (503, "not ready: stopping\n")
    assert get(monitor.port, "/healthz")[0] == 200
