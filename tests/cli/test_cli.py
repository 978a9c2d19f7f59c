"""The streamproc command: argument errors, graph output, and failures that must be clear, not hangs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamproc.cli.main import main
from streamproc.devbroker import free_port
from tests.support.kafka import REPO

WORDCOUNT = str(REPO / "topologies" / "wordcount.py")


def test_graph_text_and_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", WORDCOUNT]) == 0
    text = capsys.readouterr().out
    assert "sub-topology 1: reads wordcount-count-repartition" in text
    assert "wordcount-counts-changelog (compacted changelog of store counts)" in text
    assert main(["graph", WORDCOUNT, "--mermaid"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR")
    assert "split -.->|fields(word) via wordcount-count-repartition| count" in mermaid


def test_bad_targets_are_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(tmp_path / "missing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["graph", f"{WORDCOUNT}:nothing"]) == 2
    assert "has no attribute 'nothing'" in capsys.readouterr().err
    broken = tmp_path / "broken.py"
    broken.write_text(
        "from streamproc import Topology, KafkaSpout\n"
        "from streamproc.kafka import KafkaSink\n"
        "topology = Topology('b')\n"
        "topology.spout('in', KafkaSpout('x'))\n"
        "topology.bolt('out', KafkaSink('y')).shuffle('ghost')\n"
    )
    assert main(["graph", str(broken)]) == 2
    assert "bolt 'out' subscribes to unknown component 'ghost'" in capsys.readouterr().err


def test_wrong_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", WORDCOUNT, "--workers", "0"])
    assert exit_info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", WORDCOUNT, "--on-error", "ignore"])
    assert "invalid choice: 'ignore'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", WORDCOUNT, "--shutdown-timeout", "0"])
    assert "--shutdown-timeout: must be a positive number of seconds, got '0'" in capsys.readouterr().err
    assert main(["run", WORDCOUNT, "--bootstrap-servers", "127.0.0.1:1", "-X", "nonsense"]) == 2
    assert "expected key=value" in capsys.readouterr().err


def test_unreachable_broker_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    result = subprocess.run(
        [sys.executable, "-m", "streamproc.cli.main", "run", WORDCOUNT, "--bootstrap-servers", f"127.0.0.1:{port}",
         "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert result.returncode == 3
    assert f"cannot reach Kafka at 127.0.0.1:{port} within 15s" in result.stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())


def test_client_settings_from_x_flags() -> None:
    from streamproc.errors import ConfigError
    from streamproc.kafka.config import consumer_config, parse_overrides, producer_config

    settings = parse_overrides(["linger.ms=20", "delivery.report.only.error=TRUE", "session.timeout.ms = 6000"])
    assert settings == {"linger.ms": "20", "delivery.report.only.error": True, "session.timeout.ms": "6000"}
    producer = producer_config("b:9092", settings, "c")
    consumer = consumer_config("b:9092", "g", settings, "c")
    assert producer["linger.ms"] == "20" and "session.timeout.ms" not in producer
    assert consumer["session.timeout.ms"] == "6000" and "linger.ms" not in consumer
    with pytest.raises(ConfigError, match="takes true or false"):
        parse_overrides(["delivery.report.only.error=yes"])
    with pytest.raises(ConfigError, match="would commit offsets before outputs are acknowledged"):
        consumer_config("b:9092", "g", {"enable.auto.commit": "true"}, "c")


def test_guarantee_option(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    assert "--guarantee {at-least-once,exactly-once}" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit) as exit_info:
        main(["run", WORDCOUNT, "--guarantee", "twice"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'twice'" in capsys.readouterr().err

    from streamproc.cli import run
    from streamproc.runtime.settings import WorkerSettings

    started: list[WorkerSettings] = []

    class Recording:
        def __init__(self, target: str, settings: WorkerSettings, *args: object, **kwargs: object) -> None:
            started.append(settings)

        def run(self) -> int:
            return 0

    monkeypatch.setattr(run, "Supervisor", Recording)
    assert main(["run", WORDCOUNT, "--bootstrap-servers", "k:9092"]) == 0
    assert main(["run", WORDCOUNT, "--bootstrap-servers", "k:9092", "--guarantee", "exactly-once"]) == 0
    assert [s.guarantee for s in started] == ["at-least-once", "exactly-once"]


@pytest.mark.parametrize(("command", "status"), [(["graph", WORDCOUNT], 141), (["graph", WORDCOUNT, "--mermaid"], 141),
                                                 (["dlq", "--help"], 0)])
def test_a_closed_pipe_ends_the_command_quietly(command: list[str], status: int) -> None:
    """`streamproc ... | head -2`: the reader is gone before the command writes: no traceback, and the status
    a shell gives a tool ended by SIGPIPE (argparse's own --help output ignores the error and exits 0)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the command starts, so its first write meets EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "streamproc.cli.main", *command], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == status
