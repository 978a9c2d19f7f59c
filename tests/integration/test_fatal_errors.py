"""Failures a restart cannot fix stop the run with exit 3 and their cause, instead of a restart loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kafka import RunningTopology, create_topic, unique

pytestmark = pytest.mark.integration

TOPOLOGY = '''
from streamproc import Bolt, KafkaSink, KafkaSpout, StrSerde, Topology

class NeedsConfig(Bolt):
    def setup(self, context):
        raise FileNotFoundError("model.bin")

    def process(self, tup):
        self.emit(tup.value)

topology = Topology({name!r})
topology.spout("in", KafkaSpout({source!r}, value_serde=StrSerde()))
topology.bolt("model", NeedsConfig).shuffle("in")
topology.bolt("out", KafkaSink({source!r} + "-out", value_serde=StrSerde())).shuffle("model")
'''


def test_an_exception_in_setup_is_fatal_with_its_cause(broker: str, tmp_path: Path) -> None:
    name = unique("setup")
    source = f"{name}-in"
    create_topic(broker, source, 2)
    target = tmp_path / "target.py"
    target.write_text(TOPOLOGY.format(name=name, source=source))
    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log", "--workers", "2")
    assert running.wait(90) == 3
    log = running.log()
    assert "setup() of bolt 'model' failed in task 0_" in log and "FileNotFoundError: model.bin" in log
    assert "error a restart cannot fix" in log
    assert "restarting in" not in log and "Traceback" not in log
