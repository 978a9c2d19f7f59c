"""The monitoring endpoint over real HTTP: /metrics, /healthz, /readyz, and what it says on errors."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from streamproc.errors import ConfigError
from streamproc.monitoring.server import MonitoringServer
from tests.support.kafka import wait_for


def get(port: int, path: str) -> tuple[int, str, str]:
    """(status, content type, body) of GET http://127.0.0.1:port/path, also for error statuses."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


class Flag:
    def __init__(self) -> None:
        self.ready = False
        self.reason = "restoring"

    def __call__(self) -> tuple[bool, str]:
        return self.ready, self.reason


@pytest.fixture
def served() -> Iterator[tuple[MonitoringServer, Counter, Flag]]:
    registry = CollectorRegistry()
    counter = Counter("demo_things", "things", registry=registry)
    flag = Flag()
    server = MonitoringServer(registry, flag).start()
    yield server, counter, flag
    server.close()


def test_metrics_serves_the_registry_in_the_prometheus_text_format(
        served: tuple[MonitoringServer, Counter, Flag]) -> None:
    server, counter, _ = served
    counter.inc(7)
    status, content_type, body = get(server.port, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert "demo_things_total 7.0" in body.splitlines()


def test_healthz_answers_while_the_process_serves(served: tuple[MonitoringServer, Counter, Flag]) -> None:
    server, _, flag = served
    assert not flag.ready
    assert get(server.port, "/healthz")[0::2] == (200, "ok\n")


def test_readyz_follows_the_readiness_callable_with_its_reason(
        served: tuple[MonitoringServer, Counter, Flag]) -> None:
    server, _, flag = served
    assert get(server.port, "/readyz")[0::2] == (503, "not ready: restoring\n")
    flag.ready, flag.reason = True, "4 tasks processing"
    assert get(server.port, "/readyz")[0::2] == (200, "ready: 4 tasks processing\n")


def test_unknown_paths_are_404_and_name_the_real_ones(served: tuple[MonitoringServer, Counter, Flag]) -> None:
    status, _, body = get(served[0].port, "/metrics/extra")
    assert status == 404 and "/metrics, /healthz or /readyz" in body


def test_a_failing_readiness_check_is_a_500_with_the_error() -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("boom")

    server = MonitoringServer(CollectorRegistry(), broken).start()
    try:
        status, _, body = get(server.port, "/readyz")
        assert (status, body) == (500, "RuntimeError: boom\n")
        assert get(server.port, "/healthz")[0] == 200  # the server survives it
    finally:
        server.close()


def test_a_port_in_use_is_a_config_error_naming_it(served: tuple[MonitoringServer, Counter, Flag]) -> None:
    port = served[0].port
    with pytest.raises(ConfigError, match=rf"cannot serve metrics on 127\.0\.0\.1:{port}: .*--metrics-port"):
        MonitoringServer(CollectorRegistry(), Flag(), "127.0.0.1", port)


def test_connections_are_bounded_in_number_and_idle_time(caplog: pytest.LogCaptureFixture) -> None:
    """Idle sockets cannot pile up threads: over the limit they are closed at once, and each is closed after
    the idle timeout, after which the endpoint serves again."""
    import socket

    server = MonitoringServer(CollectorRegistry(), Flag(), max_connections=4, timeout=0.5).start()
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(10)]
    try:
        wait_for(lambda: server.dropped == 6, 10, "the connections over the limit to be closed")
        for sock in idle:
            sock.settimeout(10)
            assert sock.recv(1) == b""  # closed by the server: at once (dropped) or after the idle timeout
        assert get(server.port, "/healthz")[0] == 200
    finally:
        for sock in idle:
            sock.close()
        server.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_client_that_goes_away_is_logged_quietly(caplog: pytest.LogCaptureFixture) -> None:
    def gone() -> tuple[bool, str]:
        raise BrokenPipeError(32, "Broken pipe")

    server = MonitoringServer(CollectorRegistry(), gone).start()
    try:
        with caplog.at_level(logging.DEBUG, logger="streamproc.monitoring.server"):
            with pytest.raises(Exception):  # noqa: B017  # the connection closes without a reply
                get(server.port, "/readyz")
            wait_for(lambda: any("went away" in r.getMessage() for r in caplog.records), 5, "the debug line")
    finally:
        server.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_run_binds_the_metrics_port_to_this_host_by_default() -> None:
    from streamproc.cli.main import build_parser

    assert build_parser().parse_args(["run", "t.py"]).metrics_host == "127.0.0.1"
