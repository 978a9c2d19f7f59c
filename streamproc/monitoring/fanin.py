"""What ``streamproc run --metrics-port P`` serves: every worker's metrics behind one port.

Each worker process serves its own registry on a free port of 127.0.0.1 and reports the port to
the supervisor through a pipe. The supervisor's endpoint on P, for each scrape, fetches every
live worker's /metrics, adds a ``worker`` label to each sample, and serves the union with its
own metrics; its /readyz asks every worker's /readyz and is ready only when all N are.

Why not prometheus-client's multiprocess mode: it forbids custom collectors, which is how the
workers read their hot-path tallies at scrape time for free; it needs a shared directory whose
files of dead workers must be cleaned up across restarts; and readiness would still need its own
channel. Why not one port per worker: N scrape targets to configure, and no single /readyz.
A worker that restarts starts its counters from zero under the same ``worker`` label, which
Prometheus's rate() and increase() treat as the counter reset it is.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from streamproc.monitoring.server import MonitoringServer

log = logging.getLogger(__name__)


def fetch(port: int, path: str, timeout: float) -> tuple[int, str]:
    """GET http://127.0.0.1:port/path: (status, body). Raises OSError when the worker does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


class WorkerEndpoints:
    """The port each live worker serves on. Replaced, never mutated, so the HTTP threads read it safely."""

    def __init__(self) -> None:
        self._ports: dict[int, int] = {}

    def set(self, index: int, port: int) -> None:
        self._ports = {**self._ports, index: port}

    def drop(self, index: int) -> None:
        self._ports = {i: p for i, p in self._ports.items() if i != index}

    def current(self) -> dict[int, int]:
        return self._ports


class FanInCollector(Collector):
    """The metric families of every worker, merged by name, each sample labelled with its worker."""

    def __init__(self, endpoints: WorkerEndpoints, timeout: float, on_failure: Counter | None = None) -> None:
        self._endpoints = endpoints
        self._timeout = timeout
        self._on_failure = on_failure

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for index, port in sorted(self._endpoints.current().items()):
            try:
                status, text = fetch(port, "/metrics", self._timeout)
                if status != 200:
                    raise OSError(f"HTTP {status}")
            except OSError as exc:
                log.warning("worker %d did not serve its metrics: %s", index, exc)
                if self._on_failure is not None:
                    self._on_failure.inc()
                continue
            worker = str(index)
            for family in text_string_to_metric_families(text):
                target = merged.get(family.name)
                if target is None:
                    target = merged[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                target.samples.extend(
                    Sample(s.name, {**s.labels, "worker": worker}, s.value, s.timestamp, s.exemplar)
                    for s in family.samples
                )
        yield from merged.values()


class SupervisorMonitor:
    """The supervisor's endpoint: fanned-in worker metrics, its own, and the readiness of all workers."""

    def __init__(self, topology: str, workers: int, host: str, port: int, timeout: float = 2.0) -> None:
        self.endpoints = WorkerEndpoints()
        self.registry = CollectorRegistry()
        self._expected = workers
        self._timeout = timeout
        self._stopping = False
        labels = ["topology"]
        failures = Counter("streamproc_worker_scrape_failures", "Worker endpoints that did not answer a scrape",
                           labels, registry=None)
        # The fan-in comes first, so that a scrape already counts the failures of its own fan-in.
        self.registry.register(FanInCollector(self.endpoints, timeout, failures.labels(topology)))
        self.registry.register(failures)
        self._alive = Gauge("streamproc_workers_alive", "Worker processes running", labels,
                            registry=self.registry).labels(topology)
        self._restarts = Counter("streamproc_worker_restarts", "Workers restarted after a crash", labels,
                                 registry=self.registry).labels(topology)
        self._server = MonitoringServer(self.registry, self.readiness, host, port)

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> SupervisorMonitor:
        self._server.start()
        return self

    def close(self) -> None:
        self._server.close()

    # --- told by the supervisor --------------------------------------------------------------------
    def worker_started(self, index: int, restart: bool) -> None:
        self.endpoints.drop(index)
        if restart:
            self._restarts.inc()

    def worker_listening(self, index: int, port: int) -> None:
        self.endpoints.set(index, port)

    def worker_exited(self, index: int) -> None:
        self.endpoints.drop(index)

    def workers_alive(self, count: int) -> None:
        self._alive.set(count)

    def stopping(self) -> None:
        self._stopping = True

    # --- /readyz ------------------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, str]:
        if self._stopping:
            return False, "stopping"
        ports = self.endpoints.current()
        ready = True
        lines = []
        for index in range(self._expected):
            port = ports.get(index)
            if port is None:
                ready = False
                lines.append(f"worker {index}: starting")
                continue
            try:
                status, body = fetch(port, "/readyz", self._timeout)
            except OSError as exc:
                ready = False
                lines.append(f"worker {index}: not answering ({exc})")
                continue
            ready = ready and status == 200
            lines.append(f"worker {index}: {body.strip()}")
        return ready, "; ".join(lines)
