"""A message whose output the producer refuses is dead-lettered (without its value), never a restart loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.runtime.policy import H_DROPPED
from tests.support.kafka import RunningTopology, committed, create_topic, produce, read_all, unique, wait_for

pytestmark = pytest.mark.integration

TOPOLOGY = '''
from streamproc import KafkaSink, KafkaSpout, Topology
from streamproc.serde import BytesSerde

topology = Topology({name!r})
topology.spout("in", KafkaSpout({source!r}, key_serde=BytesSerde(), value_serde=BytesSerde()))
topology.bolt("out", KafkaSink({sink!r}, key_serde=BytesSerde(), value_serde=BytesSerde())).shuffle("in")
'''


def test_a_2mb_message_under_dlq(broker: str, tmp_path: Path) -> None:
    name = unique("big")
    source, sink = f"{name}-in", f"{name}-out"
    create_topic(broker, source, 1, config={"max.message.bytes": "3000000"})  # Kafka's default is ~1 MB
    target = tmp_path / "target.py"
    target.write_text(TOPOLOGY.format(name=name, source=source, sink=sink))
    big = b"x" * 2_000_000  # over the worker producer's default message.max.bytes (1,000,000)
    produce(broker, source, [b"small-1", big, b"small-2"], client={"message.max.bytes": 3_000_000})
    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log", "--on-error", "dlq")
    try:
        wait_for(lambda: committed(broker, name, source, 1).get(0) == 3, 60, "all three inputs to be committed")
        assert sorted(m.value() for m in read_all(broker, sink)) == [b"small-1", b"small-2"]
        [letter] = read_all(broker, f"{name}-dlq")
        headers = dict(letter.headers())
        assert letter.value() is None and letter.key() == b"1"
        assert b"MSG_SIZE_TOO_LARGE" in headers["streamproc.error"] or b"too large" in headers["streamproc.error"]
        assert b"2000000 of value" in headers[H_DROPPED]
    finally:
        assert running.stop() == 0
    assert "restarting in" not in running.log()
