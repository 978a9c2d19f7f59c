"""`streamproc replay` against the embedded broker: real offsets, topics and state directories."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Producer

from streamproc.kafka.admin import partition_counts
from tests.support.cli import run_cli
from tests.support.kafka import RunningTopology, TopicTail, committed, create_topic, read_all, unique, wait_for
from tests.support.wordcount import MakeRun

pytestmark = pytest.mark.integration


def _counts_of(records: list[object]) -> dict[str, int]:
    latest: dict[str, int] = {}
    for record in records:
        value = json.loads(record.value())  # type: ignore[attr-defined]
        latest[value["word"]] = max(latest.get(value["word"], 0), value["count"])
    return latest


def test_replay_to_earliest_with_reset_state_counts_exactly_again(
    wordcount: MakeRun, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wc = wordcount(partitions=2)
    wc.feed(1500, seed=21)
    wc.run_until_exact()
    old = read_all(broker, wc.sink)
    before = len(old)
    ends = {p: 1 + max(r.offset() for r in old if r.partition() == p) for p in {r.partition() for r in old}}
    changelog = f"{wc.name}-counts-changelog"
    assert (wc.state_dir / wc.name).is_dir()
    base = wc.cli_args()

    refused = run_cli(capsys, "replay", *base, "--to-earliest", "--yes")
    assert refused.code == 2 and "--reset-state" in refused.err and "--keep-state" in refused.err

    result = run_cli(capsys, "replay", *base, "--to-earliest", "--reset-state", "--yes")
    assert result.code == 0, result.err
    assert "reprocess" in result.out
    assert not (wc.state_dir / wc.name).exists()
    assert committed(broker, wc.name, wc.source, 2) == {0: 0, 1: 0}
    assert committed(broker, wc.name, f"{wc.name}-count-repartition", 2) == {0: 0, 1: 0}
    assert read_all(broker, changelog) == []  # recreated empty
    assert partition_counts_of(broker, changelog) == 2

    running = wc.start()
    total = sum(wc.expected.values())
    tail = TopicTail(broker, wc.sink)
    try:
        wait_for(lambda: tail.poll() and len(tail.records) >= before + total, 90, "the replayed outputs")
    finally:
        assert running.stop() == 0
        tail.close()
    replayed = [r for r in tail.records if r.offset() >= ends.get(r.partition(), 0)]
    assert _counts_of(replayed) == dict(wc.expected)  # counted again from zero
    assert _counts_of(tail.records) == dict(wc.expected)  # and not doubled

    dump = run_cli(capsys, "state", "dump", *base, "counts", "--format", "json")
    assert dump.code == 0, dump.err
    assert {e["key"]: e["value"] for e in map(json.loads, dump.out.splitlines())} == dict(wc.expected)


def test_replay_with_keep_state_applies_the_inputs_again_behind_a_repartition_topic(
    wordcount: MakeRun, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The counts sit behind the word count's repartition topic, whose dedupe skipped every replayed record."""
    wc = wordcount(partitions=2)
    wc.feed(600, seed=24)
    wc.run_until_exact()
    base = wc.cli_args()
    dry = run_cli(capsys, "replay", *base, "--to-earliest", "--keep-state", "--dry-run")
    assert f"replay barrier (replayed records are applied again behind them): {wc.name}-count-repartition" in dry.out
    result = run_cli(capsys, "replay", *base, "--to-earliest", "--keep-state", "--yes")
    assert result.code == 0, result.err
    assert "wrote a replay barrier to 2 internal topic partitions" in result.err

    doubled = {word: 2 * n for word, n in wc.expected.items()}
    running = wc.start()
    try:
        wait_for(lambda: wc.latest_counts()[0] == doubled, 90, "every word counted a second time")
        wait_for(lambda: sum(committed(broker, wc.name, wc.source, 2).values()) == 600, 30, "the commit")
    finally:
        assert running.stop() == 0
    dump = run_cli(capsys, "state", "dump", *base, "counts", "--format", "json")
    assert {e["key"]: e["value"] for e in map(json.loads, dump.out.splitlines())} == doubled
    assert "replayed records skipped" not in running.log()


def partition_counts_of(broker: str, topic: str) -> int:
    from confluent_kafka.admin import AdminClient

    return partition_counts(AdminClient({"bootstrap.servers": broker}))[topic]


def _passthrough(tmp_path: Path) -> tuple[str, str, str, Path]:
    name = unique("pass")
    source, sink = f"{name}-in", f"{name}-out"
    target = tmp_path / "passthrough.py"
    target.write_text(
        "from streamproc import KafkaSink, KafkaSpout, StrSerde, Topology\n"
        f"topology = Topology({name!r})\n"
        f"topology.spout('in', KafkaSpout({source!r}, key_serde=StrSerde(), value_serde=StrSerde()))\n"
        f"topology.bolt('out', KafkaSink({sink!r}, value_serde=StrSerde())).shuffle('in')\n"
    )
    return name, source, sink, target


def test_replay_to_datetime_reprocesses_exactly_the_later_messages(
    broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, source, sink, target = _passthrough(tmp_path)
    create_topic(broker, source, 2)
    now = int(time.time() * 1000)
    start = now - 3_600_000
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 20})
    stamps = {}
    for i in range(600):  # one second apart; several record batches per partition
        stamps[f"m{i}"] = start + i * 1000
        producer.produce(source, value=f"m{i}".encode(), key=str(i).encode(), partition=i % 2,
                         timestamp=stamps[f"m{i}"])
        if i % 97 == 0:
            producer.flush(10)
    assert producer.flush(10) == 0
    cut = start + 250_500  # between m250 and m251
    expected_again = sorted(v for v, ts in stamps.items() if ts >= cut)

    state_dir = tmp_path / "state"
    running = RunningTopology(target, broker, state_dir, tmp_path / "run1.log")
    try:
        wait_for(lambda: len(read_all(broker, sink)) >= 600, 60, "the first pass")
    finally:
        assert running.stop() == 0
    first = len(read_all(broker, sink))
    assert first == 600

    moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cut // 1000)) + f".{cut % 1000:03d}+00:00"
    base = [str(target), "--bootstrap-servers", broker]
    dry = run_cli(capsys, "replay", *base, "--to-datetime", moment, "--dry-run", "--json")
    assert dry.code == 0, dry.err
    plan = json.loads(dry.out)
    assert plan["total_to_reprocess"] == len(expected_again)
    assert committed(broker, name, source, 2) == {0: 300, 1: 300}  # the dry run changed nothing

    result = run_cli(capsys, "replay", *base, "--to-datetime", moment, "--yes")
    assert result.code == 0, result.err
    running = RunningTopology(target, broker, state_dir, tmp_path / "run2.log")
    try:
        wait_for(lambda: len(read_all(broker, sink)) >= first + len(expected_again), 60, "the replayed pass")
    finally:
        assert running.stop() == 0
    seen = Counter(r.value().decode() for r in read_all(broker, sink))
    assert sorted(v for v, n in seen.items() if n == 2) == expected_again
    assert set(seen.values()) == {1, 2} and len(seen) == 600


def test_replay_refuses_while_a_worker_runs_and_dry_run_changes_nothing(
    wordcount: MakeRun, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wc = wordcount(partitions=2)
    wc.feed(400, seed=22)
    base = wc.cli_args()
    running = wc.start()
    try:
        wc.wait_exact(running)
        wait_for(lambda: sum(committed(broker, wc.name, wc.source, 2).values()) == 400, 30, "the commit")
        result = run_cli(capsys, "replay", *base, "--to-earliest", "--reset-state", "--yes")
        assert result.code == 2
        assert "is active" in result.err and "Stop every worker" in result.err

        dry = run_cli(capsys, "replay", *base, "--to-earliest", "--reset-state", "--dry-run")
        assert dry.code == 0, dry.err
        assert "dry run: nothing changed" in dry.err and "state reset" in dry.out
        lines = [line.split() for line in dry.out.splitlines() if line.startswith(wc.source)]
        rows = {tuple(cells[:2]): cells[2:] for cells in lines}
        assert sorted(rows) == [(wc.source, "0"), (wc.source, "1")]
        assert all(new == "0" and int(current) == int(reprocess) for current, new, reprocess in rows.values())
    finally:
        assert running.stop() == 0
    assert sum(committed(broker, wc.name, wc.source, 2).values()) == 400
    assert read_all(broker, f"{wc.name}-counts-changelog")  # not recreated
    assert (wc.state_dir / wc.name / "counts").is_dir()


def test_bad_arguments_change_nothing(wordcount: MakeRun, broker: str, capsys: pytest.CaptureFixture[str]) -> None:
    wc = wordcount(partitions=2)
    wc.feed(200, seed=23)
    wc.run_until_exact()
    offsets = committed(broker, wc.name, wc.source, 2)
    base = [*wc.cli_args(), "--keep-state", "--yes"]
    cases = {
        "is in the future": ["--to-datetime", "2999-01-01T00:00:00Z"],
        "is out of range": ["--to-offset", "1000000"],
        "is not an input of this topology": ["--to-earliest", "--topic", "no-such-topic"],
        "has partitions 0..1": ["--to-earliest", "--topic", f"{wc.source}:7"],
        "expected an ISO 8601 duration": ["--by-duration", "an hour"],
        "expected ISO 8601": ["--to-datetime", "yesterday"],
        "drop --topic": ["--to-earliest", "--reset-state", "--topic", wc.source],
    }
    for message, args in cases.items():
        argv = [a for a in base if a != "--keep-state"] + args if "--reset-state" in args else base + args
        result = run_cli(capsys, "replay", *argv)
        assert result.code == 2, (args, result.err)
        assert message in result.err, (args, result.err)
    assert committed(broker, wc.name, wc.source, 2) == offsets
    assert (wc.state_dir / wc.name / "counts").is_dir()

    unknown = run_cli(capsys, "state", "dump", str(wc.target), "nope", "--state-dir", str(wc.state_dir))
    assert unknown.code == 2 and "has no store 'nope' (its stores: counts)" in unknown.err


def test_shift_by_moves_back_from_the_committed_offset(
    broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, source, _, target = _passthrough(tmp_path)
    create_topic(broker, source, 1)
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    for i in range(50):
        producer.produce(source, value=f"v{i}".encode(), partition=0)
    assert producer.flush(10) == 0
    run_cli(capsys, "replay", str(target), "--bootstrap-servers", broker, "--to-offset", "40", "--yes")
    assert committed(broker, name, source, 1) == {0: 40}
    result = run_cli(capsys, "replay", str(target), "--bootstrap-servers", broker, "--shift-by", "-15", "--yes")
    assert result.code == 0, result.err
    assert committed(broker, name, source, 1) == {0: 25}
    run_cli(capsys, "replay", str(target), "--bootstrap-servers", broker, "--shift-by", "-100", "--yes")
    assert committed(broker, name, source, 1) == {0: 0}  # clamped to the start
    run_cli(capsys, "replay", str(target), "--bootstrap-servers", broker, "--to-latest", "--yes")
    assert committed(broker, name, source, 1) == {0: 50}  # the true end, though this broker reports less


