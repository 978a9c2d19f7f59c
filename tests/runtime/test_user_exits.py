"""sys.exit() in a bolt is an error of the record being processed, not a request to stop."""

from __future__ import annotations

import sys

import pytest

from streamproc import Bolt, KafkaSink, KafkaSpout, StrSerde, Topology, Tuple
from streamproc.testing import RecordFailedError, TopologyTestDriver


class Quits(Bolt):
    def process(self, tup: Tuple) -> None:
        if tup.value == "quit":
            sys.exit(0)
        self.emit(tup.value)


def quitting(fields: bool = False) -> Topology:
    topology = Topology("q")
    topology.spout("in", KafkaSpout("words", value_serde=StrSerde()))
    topology.bolt("quits", Quits).shuffle("in")
    topology.bolt("out", KafkaSink("out", value_serde=StrSerde())).shuffle("quits")
    return topology


def test_sys_exit_in_a_bolt_is_dead_lettered_and_processing_goes_on() -> None:
    with TopologyTestDriver(quitting(), on_error="dlq") as driver:
        for word in ["a", "quit", "b"]:
            driver.send("words", word)
        assert [r.value for r in driver.output("out")] == ["a", "b"]
        dead = driver.dead_letters()
        assert [m.value for m in dead] == [b"quit"]
        assert dead[0].error_type == "SystemExit"
        driver.checkpoint()
        assert driver.committed[("words", 0)] == 3


def test_sys_exit_in_a_bolt_under_fail_stops_without_committing_it() -> None:
    with TopologyTestDriver(quitting()) as driver:
        driver.send("words", "a")
        with pytest.raises(RecordFailedError, match=r"'quits' failed: SystemExit"):
            driver.send("words", "quit")
        driver.checkpoint()
        assert driver.committed == {("words", 0): 1}
