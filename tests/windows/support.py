"""Topologies and readers shared by the window tests."""

from __future__ import annotations

from typing import Any

from streamproc import JsonSerde, KafkaSink, KafkaSpout, StrSerde, Topology
from streamproc.testing import TopologyTestDriver
from streamproc.windows import WindowedBolt

WALL = 1_700_000_000_000


def windowed(bolt: type[WindowedBolt], late: bool = True, name: str = "win") -> Topology:
    """in -> bolt (fields on the key) -> out, and its late stream -> late."""
    t = Topology(name)
    t.spout("in", KafkaSpout(["events"], key_serde=StrSerde(), value_serde=JsonSerde()))
    t.bolt("win", bolt).shuffle("in")
    t.bolt("out", KafkaSink("out", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("win")
    if late:
        t.bolt("late", KafkaSink("late", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle(("win", "late"))
    return t


def results(driver: TopologyTestDriver) -> list[tuple[str, int, int, Any]]:
    return [(r.value["key"], r.value["start"], r.value["end"], r.value["value"]) for r in driver.output("out")]


def driver(bolt: type[WindowedBolt], **kwargs: Any) -> TopologyTestDriver:
    return TopologyTestDriver(windowed(bolt), wall_time=WALL, **kwargs)
