"""`streamproc topics` and `streamproc lag` against the embedded broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from streamproc.cli.main import main
from tests.support.kafka import REPO, create_topic, unique


def wordcount_target(tmp_path: Path) -> tuple[str, str, Path]:
    name = unique("wc")
    source = f"{name}-sentences"
    target = tmp_path / "target.py"
    target.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO / 'topologies')!r})\n"
        "from wordcount import build\n"
        f"topology = build({name!r}, {source!r}, {name + '-counts'!r})\n"
    )
    return name, source, target


def test_topics_check_create_and_mismatch(broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, source, target = wordcount_target(tmp_path)
    base = ["--bootstrap-servers", broker]
    assert main(["topics", str(target), *base]) == 2  # the input topic does not exist yet
    assert f"input topic '{source}' does not exist" in capsys.readouterr().err

    create_topic(broker, source, 3)
    assert main(["topics", str(target), "--check", *base]) == 1
    out = capsys.readouterr().out
    assert f"{name}-count-repartition" in out and "missing" in out
    assert f"{name}-counts-changelog" in out and "cleanup.policy=compact" in out

    assert main(["topics", str(target), "--create", *base]) == 0
    capsys.readouterr()
    assert main(["topics", str(target), "--check", "--json", *base]) == 0
    statuses = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert statuses[f"{name}-count-repartition"]["status"] == "ok"
    assert statuses[f"{name}-count-repartition"]["partitions"] == 3
    assert statuses[f"{name}-counts-changelog"]["status"] == "ok"
    assert statuses[f"{name}-counts"]["status"] == "missing"  # the output: created by the first run

    (tmp_path / "other").mkdir()
    other, other_source, other_target = wordcount_target(tmp_path / "other")
    create_topic(broker, other_source, 3)
    create_topic(broker, f"{other}-counts-changelog", 2)
    assert main(["topics", str(other_target), "--check", *base]) == 1
    out = capsys.readouterr().out
    assert "mismatch" in out and "has 2 partitions, needs 3" in out


def test_lag_per_partition_and_total(broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, source, target = wordcount_target(tmp_path)
    create_topic(broker, source, 2)
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 50})
    for i in range(10):  # batched: the broker's offset lookup reports such ends low, a fetch reports them right
        producer.produce(source, value=f"s {i}".encode(), partition=i % 2)
    assert producer.flush(10) == 0
    assert main(["lag", str(target), "--bootstrap-servers", broker, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    inputs = {r["partition"]: r for r in report["partitions"] if r["topic"] == source}
    assert {p: (r["committed"], r["end"], r["lag"]) for p, r in inputs.items()} == {0: (None, 5, 5), 1: (None, 5, 5)}

    committer = Consumer({"bootstrap.servers": broker, "group.id": name, "enable.auto.commit": False})
    committer.commit(offsets=[TopicPartition(source, 0, 3)], asynchronous=False)
    committer.close()
    assert main(["lag", str(target), "--bootstrap-servers", broker]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == [source, "0", "3", "5", "2"] for line in lines), lines
    assert lines[-1].split() == ["total", "7"]
