"""A state value the store cannot keep fails at set(), inside its record, not at the checkpoint."""

from __future__ import annotations

import enum
import math
from pathlib import Path
from typing import Any

import pytest

from streamproc import Bolt, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.errors import SerdeError, StateValueError
from streamproc.serde.base import SerdeContext
from streamproc.serde.json import JsonSerde
from streamproc.state.keyed import KeyedState
from streamproc.state.memory import MemoryBackend
from streamproc.state.partition import StorePartition
from streamproc.testing import RecordFailedError, TopologyTestDriver


class Opaque:
    """A type JSON knows nothing about (its repr is fixed, for stable test ids under xdist)."""

    def __repr__(self) -> str:
        return "Opaque()"


BAD = [math.inf, -math.inf, math.nan, {1, 2}, 2**70, -(2**63) - 1, {"a": [1.0, math.nan]}, (math.inf,),
       {1: "non-str key"}, "\ud800", Opaque()]
GOOD = [0, -(2**63), 2**64 - 1, 2**40, 1.5, "", "é", True, {"a": [1, "x", None, 2.5]}, [None], "null"]


class Owner(Bolt):
    def process(self, tup: Tuple) -> None:
        pass


class Level(enum.IntEnum):
    HIGH = 3


@pytest.fixture
def state(tmp_path: Path) -> Any:
    part = StorePartition(Store("s"), MemoryBackend("test"), "top-s-changelog", 0)
    owner = Owner()
    owner._current = Tuple("k", None, "t", 0, 0, None, None, "default", "x")
    yield KeyedState(owner, part), part
    part.close()


@pytest.mark.parametrize("value", BAD, ids=repr)
def test_a_value_json_cannot_keep_fails_at_set(state: Any, value: Any) -> None:
    keyed, part = state
    for write in (keyed.set, lambda v: keyed.set_item("sub", v), lambda v: keyed.update(lambda _: v)):
        with pytest.raises(SerdeError, match="store 's' cannot keep"):
            write(value)
    assert part.dirty_count == 0


@pytest.mark.parametrize("value", [*GOOD, Level.HIGH], ids=repr)
def test_values_json_keeps_are_accepted_and_round_trip(state: Any, value: Any) -> None:
    keyed, part = state
    keyed.set(value)
    sent: list[bytes | None] = []
    part.stage_changelog(lambda topic, key, v, partition, cb: sent.append(v))
    assert JsonSerde().deserialize(sent[0], SerdeContext("t", False)) == value


def test_json_serde_refuses_inf_and_nan_instead_of_writing_null() -> None:
    ctx = SerdeContext("topic", False)
    with pytest.raises(SerdeError, match="inf or nan"):
        JsonSerde().serialize({"x": [math.nan]}, ctx)
    assert JsonSerde().serialize({"x": None, "y": "null"}, ctx) == b'{"x":null,"y":"null"}'


def test_other_serdes_are_asked(tmp_path: Path) -> None:
    part = StorePartition(Store("names", value_serde=StrSerde()), MemoryBackend("test"), "c", 0)
    owner = Owner()
    owner._current = Tuple("k", None, "t", 0, 0, None, None, "default", "x")
    keyed = KeyedState(owner, part)
    keyed.set("text")
    with pytest.raises(SerdeError, match="store 'names' cannot keep this int value"):
        keyed.set(5)  # fine for JSON, not for StrSerde: the fast path is the JSON serde's only
    part.close()


def test_a_value_changed_in_place_after_set_is_a_fatal_checkpoint_error(state: Any) -> None:
    keyed, part = state
    value: dict[str, Any] = {"n": 1}
    keyed.set(value)
    value["n"] = {1, 2}
    with pytest.raises(StateValueError, match="changed in place after set"):
        part.stage_changelog(lambda *args: None)


class Average(Bolt):
    stores = [Store("avg")]

    def process(self, tup: Tuple) -> None:
        self.state("avg").set(float(tup.value))  # "inf" and "nan" parse
        self.emit(tup.value, key=tup.key)


def averages() -> Topology:
    topology = Topology("avg")
    topology.spout("in", KafkaSpout("numbers", key_serde=StrSerde(), value_serde=StrSerde()))
    topology.bolt("avg", Average).shuffle("in")
    topology.bolt("out", KafkaSink("out", key_serde=StrSerde(), value_serde=StrSerde())).shuffle("avg")
    return topology


def test_the_record_follows_the_error_policy_and_the_checkpoint_succeeds() -> None:
    with TopologyTestDriver(averages(), on_error="dlq") as driver:
        for value in ["1.5", "inf", "2.5"]:
            driver.send("numbers", value, key="k")
        assert [m.value for m in driver.dead_letters()] == [b"inf"]
        assert driver.dead_letters()[0].error_type == "SerdeError"
        driver.checkpoint()
        assert driver.committed[("numbers", 0)] == 3
        assert driver.state("avg", "k") == 2.5
    with TopologyTestDriver(averages()) as driver:
        driver.send("numbers", "1.5", key="k")
        with pytest.raises(RecordFailedError, match="inf or nan"):
            driver.send("numbers", "nan", key="k")
        driver.checkpoint()
        assert driver.committed == {("numbers", 0): 1}
