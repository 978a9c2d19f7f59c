"""A real Prometheus scrapes ``streamproc run --workers 2 --metrics-port``; the Grafana dashboard's
queries are checked against what the workers serve and against Prometheus's own PromQL parser.

Prometheus is the Debian package (``.ci/run`` installs it); without its binary the Prometheus
tests skip, saying so, and the dashboard-versus-/metrics test still runs.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.monitoring.test_server import get
from tests.support.kafka import REPO, RunningTopology, create_topic, produce, unique, wait_for

pytestmark = pytest.mark.integration

DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "streamproc.json"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """The word count running under the supervisor with --metrics-port, fed a known input."""

    name: str
    port: int
    running: RunningTopology
    sentences: int
    words: int


@pytest.fixture(scope="module")
def served(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("metrics")
    name = unique("wcp")
    source, sink = f"{name}-sentences", f"{name}-counts"
    target = tmp / "target.py"
    target.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO / 'topologies')!r})\n"
        "from wordcount import build\n"
        f"topology = build({name!r}, {source!r}, {sink!r})\n"
    )
    create_topic(broker, source, 4)
    sentences = [f"the quick fox {i % 11} jumps {i % 5}" for i in range(400)]
    produce(broker, source, sentences)
    port = free_port()
    running = RunningTopology(target, broker, tmp / "state", tmp / "run.log", "--workers", str(WORKERS),
                              "--metrics-port", str(port), "--metrics-host", "127.0.0.1")
    def listening() -> bool:
        assert running.process.poll() is None, running.log()[-3000:]
        try:
            return get(port, "/healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(listening, 30, f"streamproc run to serve on port {port}")
        yield Served(name, port, running, len(sentences), sum(len(s.split()) for s in sentences))
    finally:
        code = running.stop()
    assert code == 0, running.log()[-3000:]


class Prometheus:
    """The real server, configured from deploy/prometheus/prometheus.yml with the target and interval swapped."""

    def __init__(self, binary: str, tmp: Path, target: str) -> None:
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        config["global"]["scrape_interval"] = "1s"
        config["global"]["evaluation_interval"] = "1s"
        (job,) = config["scrape_configs"]
        self.job = job["job_name"]
        job["static_configs"] = [{"targets": [target]}]
        path = tmp / "prometheus.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        self.port = free_port()
        self.log_path = tmp / "prometheus.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [binary, f"--config.file={path}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, 30, "prometheus to be ready")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.process.returncode}:\n{self.log_path.read_text()}")
        try:
            return get(self.port, "/-/ready")[0] == 200
        except OSError:
            return False

    def query(self, expr: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read())
        return answer

    def value(self, expr: str) -> float | None:
        """The single value of an instant vector query, or None while it has no result."""
        answer = self.query(expr)
        assert answer["status"] == "success", (expr, answer)
        result = answer["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self._log.close()


@pytest.fixture(scope="module")
def prometheus(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").is_file() else None)
    if binary is None:
        pytest.skip("the prometheus binary is not installed (Debian package `prometheus`, which .ci/run installs), "
                    "so metrics cannot be checked through a real Prometheus here")
    server = Prometheus(binary, tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{served.port}")
    yield server
    server.stop()


def test_prometheus_sees_counters_that_match_the_messages_processed(served: Served, prometheus: Prometheus) -> None:
    topology = f'topology="{served.name}"'

    def total(metric: str, component: str) -> float | None:
        return prometheus.value(f'sum({metric}{{{topology},component="{component}"}})')

    def caught_up() -> bool:
        assert served.running.process.poll() is None, served.running.log()[-3000:]
        return (total("streamproc_messages_consumed_total", "sentences") == served.sentences
                and total("streamproc_messages_emitted_total", "count") == served.words)

    wait_for(caught_up, 120, f"Prometheus to report {served.sentences} sentences consumed and every word counted",
             interval=0.5)
    assert total("streamproc_messages_emitted_total", "split") == served.words
    assert total("streamproc_messages_consumed_total", "count") == served.words  # through the repartition topic
    assert prometheus.value(f'up{{job="{prometheus.job}"}}') == 1
    # Both workers' series arrive through the one target, told apart by the worker label.
    workers = prometheus.value(f'count(count by (worker) (streamproc_messages_consumed_total{{{topology}}}))')
    assert workers == WORKERS
    assert prometheus.value(f"sum(streamproc_workers_alive{{{topology}}})") == WORKERS
    wait_for(lambda: prometheus.value(f"sum(streamproc_ready{{{topology}}})") == WORKERS, 30, "both workers ready")
    wait_for(lambda: prometheus.value(f"sum(streamproc_consumer_lag{{{topology}}})") == 0, 30, "lag 0 in Prometheus")


def test_healthz_and_readyz_of_the_running_supervisor(served: Served) -> None:
    assert get(served.port, "/healthz")[0::2] == (200, "ok\n")

    def ready() -> str | None:
        status, _, body = get(served.port, "/readyz")
        return body if status == 200 else None

    body = wait_for(ready, 60, "the supervisor to report every worker ready")
    assert re.fullmatch(r"ready: worker 0: ready: \d+ tasks processing; worker 1: ready: \d+ tasks processing\n", body)


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    queries = [t["expr"] for p in panels for t in p["targets"]]
    queries += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return queries


def served_names(text: str) -> set[str]:
    """Every series name the exposition declares (with or without samples yet), as PromQL sees them."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "summary": ["_sum", "_count", ""]}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in suffixes.get(family.type, [""]))
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_the_dashboard_queries_is_served(served: Served) -> None:
    def metrics() -> str | None:
        status, _, body = get(served.port, "/metrics")
        return body if status == 200 and "worker=" in body else None

    names = served_names(wait_for(metrics, 60, "a worker's metrics behind the supervisor"))
    queried = {name for expr in dashboard_queries() for name in re.findall(r"\bstreamproc_[a-z0-9_]+", expr)}
    assert len(queried) >= 15, sorted(queried)
    missing = sorted(queried - names)
    assert not missing, f"the dashboard queries metrics that /metrics does not serve: {missing}"


def test_every_dashboard_query_is_valid_promql(prometheus: Prometheus) -> None:
    for expr in dashboard_queries():
        if expr.startswith("label_values("):
            continue  # a Grafana function, not PromQL
        concrete = expr.replace("$topology", ".*").replace("$__rate_interval", "1m")
        answer = prometheus.query(concrete)
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
