"""`streamproc dlq list|replay`: poison messages dead-lettered, the topology fixed, the messages re-driven once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.support.cli import run_cli
from tests.support.kafka import RunningTopology, create_topic, read_all, unique, wait_for

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
        assert "2 to re-drive, 3 not matching" in first.err
        wait_for(lambda: len(read_all(broker, sink)) == 97, 60, "the two re-driven negative amounts")

        rest = run_cli(capsys, "dlq", "replay", *base)
        assert rest.code == 0, rest.err
        assert "3 to re-drive, 0 not matching --filter-error left pending, 2 re-driven before" in rest.err
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
        assert m.partition() == i % 2 and m.headers() == [("trace", b"t%d" % i)]  # original partition and headers
    outputs = [json.loads(m.value()) for m in read_all(broker, sink)]
    assert sorted(o["n"] for o in outputs if "raw" not in o) == sorted(
        [-i if i in NEGATIVE else i for i in range(100) if i not in BAD_JSON])
    assert sorted(o["raw"] for o in outputs if "raw" in o) == ["{oops"] * 3
    pending = run_cli(capsys, "dlq", "list", *base, "--pending", "--json")
    assert pending.out == ""


def test_dlq_commands_explain_a_missing_dead_letter_topic(
    broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = unique("nodlq")
    target = _write(tmp_path / "strict.py", STRICT, name, f"{name}-in", f"{name}-out")
    result = run_cli(capsys, "dlq", "list", str(target), "--bootstrap-servers", broker)
    assert result.code == 2 and f"no dead-letter topic '{name}-dlq'" in result.err and "--on-error dlq" in result.err
