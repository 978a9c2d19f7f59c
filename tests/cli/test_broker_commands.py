"""`streamproc broker`, and `streamproc run` starting the embedded broker when given no bootstrap servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from confluent_kafka.admin import AdminClient

from streamproc.devbroker import free_port
from tests.support.kafka import REPO, wait_for

WORDCOUNT = str(REPO / "topologies" / "wordcount.py")


def test_broker_command_serves_kafka_until_stopped() -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "streamproc.cli.main", "broker", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    try:
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
        metadata = wait_for(lambda: _metadata(admin), 20, "the broker to answer")
        assert metadata.brokers
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert process.stderr is not None
    assert f"embedded broker (Tansu, in-memory storage) on 127.0.0.1:{port}" in process.stderr.read().decode()


def _metadata(admin: AdminClient) -> object:
    try:
        return admin.list_topics(timeout=1)
    except Exception:
        return None


def test_missing_broker_binary_is_explained() -> None:
    env = {**os.environ, "STREAMPROC_TANSU": "/nonexistent/tansu"}
    result = subprocess.run([sys.executable, "-m", "streamproc.cli.main", "broker", "--port", str(free_port())],
                            capture_output=True, text=True, timeout=30, env=env, cwd=REPO)
    assert result.returncode == 2
    assert "STREAMPROC_TANSU=/nonexistent/tansu does not exist" in result.stderr


def test_run_without_bootstrap_starts_the_embedded_broker(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STREAMPROC_BOOTSTRAP_SERVERS"}
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamproc.cli.main", "run", WORDCOUNT, "--state-dir", str(tmp_path / "state"),
             "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=1000"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )
        try:
            wait_for(lambda: "ready: processing sentences" in log.read_text(), 60, "the word count to start")
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(60)
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert "started the embedded broker on 127.0.0.1:" in text
    assert "created input topics ['sentences'] with 4 partitions on the embedded broker" in text
