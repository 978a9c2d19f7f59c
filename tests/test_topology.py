"""The topology builder: bad ids, components and arguments are refused where they are given."""

from __future__ import annotations

import pytest

from streamproc import KafkaSpout, Store, StrSerde, Topology, TopologyError
from tests.support.bolts import Passthrough


def base() -> Topology:
    topology = Topology("t")
    topology.spout("in", KafkaSpout("input", value_serde=StrSerde()))
    return topology


def test_bad_components_and_names() -> None:
    with pytest.raises(TopologyError, match="topology id 'bad name'"):
        Topology("bad name")
    topology = base()
    with pytest.raises(TopologyError, match="bolt 'x' must be a Bolt"):
        topology.bolt("x", object)  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="spout 's' must be a KafkaSpout"):
        topology.spout("s", "topic")  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="needs one or more field names"):
        topology.bolt("y", Passthrough).fields("in")
    with pytest.raises(TopologyError, match="store name 'a/b'"):
        Store("a/b")
    with pytest.raises(TopologyError, match="has no spout"):
        Topology("empty").build()
    topology = base()
    topology.spout("in2", KafkaSpout("input"))
    with pytest.raises(TopologyError, match="topic 'input' is read by both spouts 'in' and 'in2'"):
        topology.build()
