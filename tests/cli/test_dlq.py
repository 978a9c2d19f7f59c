"""`streamproc dlq list|replay`: poison messages dead-lettered, the topology fixed, the messages re-driven once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.support.cli import run_cli
from tests.support.kafka import RunningTopology, committed, create_topic, read_all, unique, wait_for

pytestmark = pytest.mark.integration

BAD_JSON = {10, 50, 80}
NEGATIVE = {20, 70}

STRICT = '''
from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, StrSerde, Topology


class Check(Bolt):
    def process(self, tup):
        if tup.value["n"] < 0:
            raise ValueError(f"negative amount {tup.value['n']}")
        self.emit(tup.value, key=tup.key)


topology = Topology(NAME)
topology.spout("in", KafkaSpout(SOURCE, key_serde=StrSerde(), value_serde=JsonSerde()))
topology.bolt("check", Check).shuffle("in")
topology.bolt("out", KafkaSink(SINK)).shuffle("check")
'''

LENIENT = '''
import json

from streamproc import Bolt, KafkaSink, KafkaSpout, StrSerde, Topology


class LenientJson:
    """JSON, or the raw text when it is not JSON."""

    shape = "any"

    def serialize(self, obj, ctx):
        return None if obj is None else json.dumps(obj).encode()

    def deserialize(self, data, ctx):
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return {"n": 0, "raw": data.decode(errors="replace")}


class Pass(Bolt):
    def process(self, tup):
        self.emit(tup.value, key=tup.key)


topology = Topology(NAME)
topology.spout("in", KafkaSpout(SOURCE, key_serde=StrSerde(), value_serde=LenientJson()))
topology.bolt("check", Pass).shuffle("in")
topology.bolt("out", KafkaSink(SINK)).shuffle("check")
'''


def _write(path: Path, body: str, name: str, source: str, sink: str) -> Path:
    path.write_text(f"NAME, SOURCE, SINK = {name!r}, {source!r}, {sink!r}\n" + body)
    return path


def test_dead_letters_are_listed_and_re_driven_once_to_a_fixed_topology(
    broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = unique("orders")
    source, sink, dlq = f"{name}-in", f"{name}-out", f"{name}-dlq"
    strict = _write(tmp_path / "strict.py", STRICT, name, source, sink)
    lenient = _write(tmp_path / "lenient.py", LENIENT, name, source, sink)
    create_topic(broker, source, 2)
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    for i in range(100):
        value = b"{oops" if i in BAD_JSON else json.dumps({"n": -i if i in NEGATIVE else i}).encode()
        producer.produce(source, value=value, key=f"k{i}".encode(), partition=i % 2, headers=[("trace", b"t%d" % i)])
    assert producer.flush(10) == 0
    state_dir = tmp_path / "state"

    running = RunningTopology(strict, broker, state_dir, tmp_path / "strict.log", "--on-error", "dlq")
    try:
        wait_for(lambda: len(read_all(broker, sink)) == 95 and len(read_all(broker, dlq)) == 5, 60,
                 "95 outputs and 5 dead letters")
    finally:
        assert running.stop() == 0

    base = [str(strict), "--bootstrap-servers", broker]
    listed = run_cli(capsys, "dlq", "list", *base, "--json")
    assert listed.code == 0, listed.err
    letters = [json.loads(line) for line in listed.out.splitlines()]
    assert sorted(int(x["key"][1:]) for x in letters) == sorted(BAD_JSON | NEGATIVE)
    for letter in letters:
        i = int(letter["key"][1:])
        assert letter["status"] == "pending"
        assert letter["origin"]["topic"] == source and letter["origin"]["partition"] == i % 2
        if i in NEGATIVE:
            assert (letter["component"], letter["error_type"]) == ("check", "ValueError")
            assert letter["error"] == f"negative amount {-i}"
        else:
            assert letter["component"] == "in" and letter["error"]  # the decoder's own message
    table = run_cli(capsys, "dlq", "list", *base, "--limit", "2")
    assert len(table.out.splitlines()) == 3 and "pending" in table.out

    dry = run_cli(capsys, "dlq", "replay", *base, "--dry-run")
    assert dry.code == 0 and "5 to re-drive" in dry.err and "nothing changed" in dry.err
    assert len(read_all(broker, source)) == 100

    fixed = RunningTopology(lenient, broker, state_dir, tmp_path / "lenient.log")
    try:
        first = run_cli(capsys, "dlq", "replay", *base, "--filter-error", "NEGATIVE")
        assert first.code == 0, first.err
        assert "2 to re-drive (2 dead letters), 3 not selected left pending" in first.err
        wait_for(lambda: len(read_all(broker, sink)) == 97, 60, "the two re-driven negative amounts")

        rest = run_cli(capsys, "dlq", "replay", *base)
        assert rest.code == 0, rest.err
        assert "3 to re-drive (3 dead letters), 0 not selected left pending, 2 re-driven before" in rest.err
        wait_for(lambda: len(read_all(broker, sink)) == 100, 60, "the three re-driven undecodable messages")

        again = run_cli(capsys, "dlq", "replay", *base)
        assert again.code == 0 and "0 to re-drive" in again.err and "5 re-driven before" in again.err
    finally:
        assert fixed.stop() == 0

    inputs = read_all(broker, source)
    assert len(inputs) == 105  # each dead letter re-driven exactly once
    redriven = [m for m in inputs if m.offset() >= 50]
    assert sorted(m.key().decode() for m in redriven) == sorted(f"k{i}" for i in BAD_JSON | NEGATIVE)
    for m in redriven:
        i = int(m.key()[1:])
        # the original partition and headers, after a first header naming the original it stands in for
        root = f"{source}:{i % 2}:{i // 2}".encode()
        assert m.partition() == i % 2 and m.headers() == [("streamproc.redrive.of", root), ("trace", b"t%d" % i)]
    outputs = [json.loads(m.value()) for m in read_all(broker, sink)]
    assert sorted(o["n"] for o in outputs if "raw" not in o) == sorted(
        [-i if i in NEGATIVE else i for i in range(100) if i not in BAD_JSON])
    assert sorted(o["raw"] for o in outputs if "raw" in o) == ["{oops"] * 3
    pending = run_cli(capsys, "dlq", "list", *base, "--pending", "--json")
    assert pending.out == ""
    # This topology keeps no state, so nothing can stop a replay from counting an original and its copy.
    replay = run_cli(capsys, "replay", *base, "--to-earliest", "--dry-run")
    assert replay.code == 0 and f"note: 5 re-driven dead letters went back to {source}, whose bolts keep no state" \
        in replay.err, replay.err


def test_dlq_commands_explain_a_missing_dead_letter_topic(
    broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = unique("nodlq")
    target = _write(tmp_path / "strict.py", STRICT, name, f"{name}-in", f"{name}-out")
    result = run_cli(capsys, "dlq", "list", str(target), "--bootstrap-servers", broker)
    assert result.code == 2 and f"no dead-letter topic '{name}-dlq'" in result.err and "--on-error dlq" in result.err


TOTALS = '''
from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology


class Total(Bolt):
    stores = [Store("totals")]

    def process(self, tup):
        if STRICT and tup.value["n"] < 0:
            raise ValueError(f"negative amount {tup.value['n']}")
        totals = self.state("totals")
        totals.set(totals.get(0) + tup.value["n"])
        self.emit({"customer": tup.key, "total": totals.get(0)}, key=tup.key)


topology = Topology(NAME)
topology.spout("in", KafkaSpout(SOURCE, key_serde=StrSerde(), value_serde=JsonSerde()))
topology.bolt("total", Total).shuffle("in")
topology.bolt("out", KafkaSink(SINK)).shuffle("total")
'''


def _totals(capsys: pytest.CaptureFixture[str], base: list[str], state_dir: Path) -> dict[str, int]:
    dump = run_cli(capsys, "state", "dump", *base, "totals", "--format", "json", "--state-dir", str(state_dir))
    assert dump.code == 0, dump.err
    return {e["key"]: e["value"] for e in map(json.loads, dump.out.splitlines())}


def test_dead_letters_group_by_origin_and_a_re_driven_copy_never_counts_twice(
    broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """fail -> dead-letter -> replay (copies) -> fix -> re-drive -> replay from earliest with state reset:
    every input counted once, each origin re-driven once, skipped origins kept apart from re-driven ones."""
    name = unique("totals")
    source, sink = f"{name}-in", f"{name}-out"
    strict, fixed = tmp_path / "strict.py", tmp_path / "fixed.py"
    for path, is_strict in ((strict, True), (fixed, False)):
        path.write_text(f"NAME, SOURCE, SINK, STRICT = {name!r}, {source!r}, {sink!r}, {is_strict}\n" + TOTALS)
    create_topic(broker, source, 2)
    negative, junk = {7, 22, 41}, {15, 33}
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    truth: dict[str, int] = {}
    for i in range(60):
        key = f"c{i % 4}"
        if i in junk:
            value = b"{not json"
        else:
            amount = -i if i in negative else i
            truth[key] = truth.get(key, 0) + amount
            value = json.dumps({"n": amount}).encode()
        producer.produce(source, value=value, key=key.encode(), partition=i % 2)
    assert producer.flush(10) == 0
    state_dir = tmp_path / "state"
    base = [str(strict), "--bootstrap-servers", broker]
    dlq = f"{name}-dlq"

    def run(target: Path, log: str, dead: int) -> None:
        running = RunningTopology(target, broker, state_dir, tmp_path / log, "--on-error", "dlq")
        try:
            wait_for(lambda: sum(committed(broker, name, source, 2).values()) == len(read_all(broker, source))
                     and len(read_all(broker, dlq)) == dead, 90, f"every input committed and {dead} dead letters")
        finally:
            assert running.stop() == 0

    run(strict, "strict1.log", 5)
    replay = run_cli(capsys, "replay", *base, "--to-earliest", "--reset-state", "--yes")
    assert replay.code == 0, replay.err
    run(strict, "strict2.log", 10)  # the replay dead-letters the same five inputs again

    listed = run_cli(capsys, "dlq", "list", *base, "--json")
    origins = [json.loads(line) for line in listed.out.splitlines()]
    assert len(origins) == 5 and {o["copies"] for o in origins} == {2}
    assert all(o["status"] == "pending" for o in origins)
    table = run_cli(capsys, "dlq", "list", *base)
    assert "copies" in table.out.splitlines()[0] and "5 of 5 origins shown (10 dead letters" in table.err
    dry = run_cli(capsys, "dlq", "replay", *base, "--dry-run", "--filter-error", "negative")
    assert dry.code == 0 and "3 to re-drive (6 dead letters), 2 not selected left pending" in dry.err, dry.err

    skipped = run_cli(capsys, "dlq", "skip", *base, "--filter-error", "JSON")
    assert skipped.code == 0, skipped.err
    assert "2 to skip (4 dead letters)" in skipped.err and "0 re-driven before, 0 skipped before" in skipped.err

    fixed_run = RunningTopology(fixed, broker, state_dir, tmp_path / "fixed1.log", "--on-error", "dlq")
    try:
        redrive = run_cli(capsys, "dlq", "replay", *base)
        assert redrive.code == 0, redrive.err
        assert "3 to re-drive (6 dead letters), 0 not selected left pending, 0 re-driven before, 2 skipped before" \
            in redrive.err
        wait_for(lambda: sum(committed(broker, name, source, 2).values()) == 63, 60, "the three re-driven copies")
    finally:
        assert fixed_run.stop() == 0
    assert _totals(capsys, base, state_dir) == truth
    again = run_cli(capsys, "dlq", "replay", *base)
    assert "0 to re-drive" in again.err and "3 re-driven before, 2 skipped before" in again.err
    statuses = [json.loads(line)["status"] for line in run_cli(capsys, "dlq", "list", *base, "--json").out.splitlines()]
    assert sorted(statuses) == ["re-driven"] * 3 + ["skipped"] * 2

    # The fixed topology from the start: the originals now count, so their re-driven copies must not.
    replay = run_cli(capsys, "replay", str(fixed), "--bootstrap-servers", broker, "--to-earliest", "--reset-state",
                     "--yes", "--state-dir", str(state_dir))
    assert replay.code == 0, replay.err
    run(fixed, "fixed2.log", 12)  # only the junk fails again: copies of skipped origins
    assert _totals(capsys, base, state_dir) == truth
    assert "re-driven copy" in (tmp_path / "fixed2.log").read_text()
    pending = run_cli(capsys, "dlq", "list", *base, "--pending", "--json")
    assert pending.out == ""
    assert len(read_all(broker, source)) == 63  # nothing was re-driven a second time


def test_skip_needs_a_selection_and_offsets_a_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = _write(tmp_path / "strict.py", STRICT, "n", "n-in", "n-out")
    base = [str(target), "--bootstrap-servers", "127.0.0.1:1"]  # refused before anything is contacted
    nothing = run_cli(capsys, "dlq", "skip", *base)
    assert nothing.code == 2 and "--filter-error TEXT, --offsets FROM-TO, or --all" in nothing.err
    for command in ("skip", "replay"):
        backwards = run_cli(capsys, "dlq", command, *base, "--offsets", "9-3")
        assert backwards.code == 2 and "expected FROM-TO, two DLQ offsets with FROM <= TO" in backwards.err
