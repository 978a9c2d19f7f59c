"""A state value the store cannot encode is the record's failure in a real worker: no restart loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kafka import RunningTopology, committed, create_topic, produce, read_all, unique, wait_for

pytestmark = pytest.mark.integration

TOPOLOGY = '''
from streamproc import Bolt, KafkaSink, KafkaSpout, Store, StrSerde, Topology

class Remember(Bolt):
    stores = [Store("seen")]

    def process(self, tup):
        self.state("seen").set({{1, 2}} if tup.value == "bad" else tup.value)  # a set: JSON cannot keep it
        self.emit(tup.value, key=tup.key)

topology = Topology({name!r})
topology.spout("in", KafkaSpout({source!r}, key_serde=StrSerde(), value_serde=StrSerde()))
topology.bolt("remember", Remember).shuffle("in")
topology.bolt("out", KafkaSink({sink!r}, key_serde=StrSerde(), value_serde=StrSerde())).shuffle("remember")
'''


def test_an_unencodable_state_value_is_dead_lettered_and_the_rest_commits(broker: str, tmp_path: Path) -> None:
    name = unique("bad-state")
    source, sink = f"{name}-in", f"{name}-out"
    create_topic(broker, source, 1)
    target = tmp_path / "target.py"
    target.write_text(TOPOLOGY.format(name=name, source=source, sink=sink))
    produce(broker, source, ["a", "bad", "b"])  # keyed "0", "1", "2"
    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log", "--on-error", "dlq")
    try:
        wait_for(lambda: committed(broker, name, source, 1).get(0) == 3, 60, "all three inputs to be committed")
        assert [m.value() for m in read_all(broker, f"{name}-dlq")] == [b"bad"]
        assert sorted(m.value() for m in read_all(broker, sink)) == [b"a", b"b"]
    finally:
        assert running.stop() == 0
    log = running.log()
    assert "store 'seen' cannot keep this set value" in log
    assert "restarting" not in log
