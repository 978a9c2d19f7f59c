"""``streamproc graph`` pictures: names and topics only, never a component's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from streamproc import Bolt, KafkaSink, KafkaSpout, StrSerde, Topology, Tuple
from streamproc.cli.main import main
from streamproc.describe import describe_mermaid, describe_text

SECRET = "api-key-SECRET-91c2"


@dataclass
class Enrich(Bolt):
    """A bolt configured with a credential; a dataclass, so its repr prints it."""

    api_key: str = ""

    def process(self, tup: Tuple) -> None:
        self.emit(tup.value, key=tup.key)


def topology() -> Topology:
    topology = Topology("enrich")
    topology.spout("in", KafkaSpout("events", value_serde=StrSerde()))
    topology.bolt("enrich", Enrich(api_key=SECRET)).shuffle("in")
    topology.bolt("sink", KafkaSink("enriched")).shuffle("enrich")
    return topology


def test_bolt_instances_are_shown_by_class_name() -> None:
    assert SECRET in repr(Enrich(api_key=SECRET))  # the premise: the instance's repr would leak it
    plan = topology().build()
    text = describe_text(plan)
    assert "bolt enrich [Enrich] <- in (shuffle)" in text
    assert "bolt sink [KafkaSink(enriched)] <- enrich (shuffle)" in text
    assert SECRET not in text
    assert SECRET not in describe_mermaid(plan)


def test_graph_command_prints_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "enrich.py"
    target.write_text("from tests.test_describe import topology\ntopology = topology()\n")
    for extra in ([], ["--mermaid"]):
        assert main(["graph", str(target), *extra]) == 0
        out, err = capsys.readouterr()
        assert "enrich" in out
        assert SECRET not in out + err
