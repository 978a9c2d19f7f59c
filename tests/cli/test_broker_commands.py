"""`streamproc broker`, and `streamproc run` starting the embedded broker when given no bootstrap servers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from streamproc.cli.main import main
from streamproc.cli.run import embedded_client_settings
from streamproc.devbroker import CLIENT_SETTINGS, free_port
from tests.support.kafka import REPO, committed, produce, wait_for

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


def test_run_without_bootstrap_starts_the_embedded_broker_and_tunes_its_clients_for_it(tmp_path: Path) -> None:
    """No -X settings: `run` gives its workers a session timeout suited to the embedded broker, so after a
    SIGKILL the dead member's partition is taken over within seconds. With librdkafka's default 45 s it
    stays idle for over a minute (the session expiry, then a join of about half the timeout), past the
    bound below; with 6 s it takes about 10 s."""
    env = {k: v for k, v in os.environ.items() if k != "STREAMPROC_BOOTSTRAP_SERVERS"}
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamproc.cli.main", "run", WORDCOUNT, "--state-dir", str(tmp_path / "state"),
             "--broker-port", str(port), "--broker-partitions", "2", "--workers", "2", "--commit-interval", "0.5"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )
        try:
            wait_for(lambda: "ready: processing sentences" in log.read_text(), 60, "the word count to start")
            text = log.read_text()
            assert f"started the embedded broker on {bootstrap}" in text
            assert f"export STREAMPROC_BOOTSTRAP_SERVERS={bootstrap}" in text
            assert "session.timeout.ms=6000, heartbeat.interval.ms=1000, fetch.wait.max.ms=10" in text
            assert "created input topics ['sentences'] with 2 partitions on the embedded broker" in text

            fed = produce(bootstrap, "sentences", [f"the fox {i}" for i in range(200)])
            wait_for(lambda: _processed(bootstrap) == {0: True, 1: True} and sum(_offsets(bootstrap)) == fed, 60,
                     "both workers to process and commit")
            worker_1 = int(re.findall(r"started worker 1 \(pid (\d+)\)", log.read_text())[0])
            os.kill(worker_1, signal.SIGKILL)
            fed += produce(bootstrap, "sentences", [f"the dog {i}" for i in range(200)])
            wait_for(lambda: sum(_offsets(bootstrap)) == fed, 45, "the killed worker's partition to be taken over")
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(60)
    assert code == 0, log.read_text()[-2000:]


def _offsets(bootstrap: str) -> list[int]:
    return list(committed(bootstrap, "wordcount", "sentences", 2).values())


def _processed(bootstrap: str) -> dict[int, bool]:
    return {p: o > 0 for p, o in committed(bootstrap, "wordcount", "sentences", 2).items()}


def test_embedded_broker_options_are_refused_with_a_bootstrap(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", WORDCOUNT, "--bootstrap-servers", "127.0.0.1:1", "--broker-partitions", "4"]) == 2
    assert "--broker-partitions configure the embedded broker, which runs only without" in capsys.readouterr().err


def test_one_static_member_id_for_several_workers_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", WORDCOUNT, "--bootstrap-servers", "127.0.0.1:1", "--workers", "2",
                 "-X", "group.instance.id=host-a"]) == 2
    assert "names one member of the group, but --workers 2 makes 2 members" in capsys.readouterr().err


def test_client_settings_for_the_embedded_broker_yield_to_x_flags() -> None:
    assert embedded_client_settings({}) == CLIENT_SETTINGS
    tuned = embedded_client_settings({"session.timeout.ms": "20000", "linger.ms": "5"})
    assert tuned == {**CLIENT_SETTINGS, "session.timeout.ms": "20000", "linger.ms": "5"}
