"""``streamproc run --metrics-port``: bad ports are refused before anything starts."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from streamproc.cli.main import main
from tests.support.kafka import REPO

WORDCOUNT = str(REPO / "topologies" / "wordcount.py")


def test_a_port_outside_the_tcp_range_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", WORDCOUNT, "--metrics-port", "70000"])
    assert exit_info.value.code == 2
    assert "must be a TCP port (1-65535), got 70000" in capsys.readouterr().err


def test_a_busy_metrics_port_stops_the_run_before_any_worker_starts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # A separate process: the run would otherwise change this process's prometheus-client settings.
        result = subprocess.run(
            [sys.executable, "-m", "streamproc.cli.main", "run", WORDCOUNT, "--bootstrap-servers", "127.0.0.1:1",
             "--metrics-host", "127.0.0.1", "--metrics-port", str(port)],
            capture_output=True, text=True, timeout=60, cwd=REPO,
        )
    assert result.returncode == 2, result.stderr
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.stderr
    assert "started worker" not in result.stderr
