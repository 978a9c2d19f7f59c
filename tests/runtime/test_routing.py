"""Emitting on streams: an undeclared stream raises at the emit instead of dropping tuples."""

from __future__ import annotations

import pytest

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Topology, Tuple
from streamproc.testing import TopologyTestDriver


class Route(Bolt):
    streams = ("alerts", "quiet")

    def process(self, tup: Tuple) -> None:
        self.emit(tup.value, stream=tup.value["stream"])


def routed() -> Topology:
    topology = Topology("r")
    topology.spout("in", KafkaSpout("events", value_serde=JsonSerde()))
    topology.bolt("route", Route).shuffle("in")
    topology.bolt("alerts", KafkaSink("alerts-out")).shuffle(("route", "alerts"))
    topology.bolt("rest", KafkaSink("rest-out")).shuffle("route")
    return topology


def test_declared_streams_deliver_and_an_undeclared_one_raises_naming_the_bolt() -> None:
    with TopologyTestDriver(routed(), on_error="dlq") as driver:
        driver.send("events", {"stream": "alerts"})
        driver.send("events", {"stream": "default"})
        driver.send("events", {"stream": "quiet"})  # declared, nobody subscribes: dropped without error
        driver.send("events", {"stream": "invalidd"})
        assert [r.value["stream"] for r in driver.output("alerts-out")] == ["alerts"]
        assert [r.value["stream"] for r in driver.output("rest-out")] == ["default"]
        [letter] = driver.dead_letters()
        assert letter.component == "route"
        assert letter.error_type == "UndeclaredStream"
        assert letter.error == (
            "bolt 'route' emitted on stream 'invalidd', which it does not declare; it declares "
            "['alerts', 'default', 'quiet']. Declare a stream with streams = (...) on the bolt class")


def test_under_fail_the_undeclared_stream_stops_processing() -> None:
    with TopologyTestDriver(routed()) as driver, pytest.raises(Exception, match="emitted on stream 'invalidd'"):
        driver.send("events", {"stream": "invalidd"})
