"""The store API a bolt sees: scoped to the current tuple's key, or to an explicit one.

``get`` and ``set`` repeat the key-prefix lookup inline for speed, with a cache for str and bytes keys;
the parametrised tests run keys of both kinds (cached and not) through the same operations.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from streamproc import Bolt, KafkaSpout, Store, Topology, Tuple
from streamproc.serde.json import JsonSerde
from streamproc.testing import RecordFailedError, TopologyTestDriver


class Ops(Bolt):
    """Runs the operation named in the value on the tuple's key and records what it read."""

    stores: ClassVar[list[Store]] = [Store("s")]
    reads: ClassVar[list[Any]] = []

    def process(self, tup: Tuple) -> None:
        op, arg = tup.value["op"], tup.value.get("arg")
        state = self.state("s")
        if op == "set":
            state.set(arg)
        elif op == "get":
            Ops.reads.append(state.get("absent"))
        elif op == "delete":
            state.delete()
        elif op == "update":
            Ops.reads.append(state.update(lambda old: old + arg, 0))
        elif op == "put_item":
            state[arg] = arg * 10
        elif op == "items":
            Ops.reads.append(list(state.items()))
        elif op == "contains":
            Ops.reads.append(arg in state)
        elif op == "other_key":
            Ops.reads.append(self.state("s", key=arg).get())


def driver() -> TopologyTestDriver:
    topology = Topology("keyed")
    topology.spout("in", KafkaSpout("ops", key_serde=JsonSerde(), value_serde=JsonSerde()))
    topology.bolt("ops", Ops).shuffle("in")
    return TopologyTestDriver(topology)


@pytest.mark.parametrize("key", ["k", 7, ["a", 1]], ids=["str-cached", "int", "composite"])
def test_value_operations_on_the_current_key(key: Any) -> None:
    Ops.reads.clear()
    with driver() as d:
        for value in [{"op": "get"}, {"op": "set", "arg": 1}, {"op": "get"}, {"op": "update", "arg": 2},
                      {"op": "delete"}, {"op": "get"}, {"op": "update", "arg": 5}]:
            d.send("ops", value, key=key)
        assert Ops.reads == ["absent", 1, 3, "absent", 5]
        d.checkpoint()
        d.crash(lose_state=True)  # restored from the changelog: the same
        d.send("ops", {"op": "get"}, key=key)
        assert Ops.reads[-1] == 5


def test_sub_keys_are_a_map_per_key_in_order_and_apart_from_other_keys() -> None:
    Ops.reads.clear()
    with driver() as d:
        for sub in [3, 1, 2]:
            d.send("ops", {"op": "put_item", "arg": sub}, key="a")
        d.send("ops", {"op": "put_item", "arg": 9}, key="b")
        d.send("ops", {"op": "items"}, key="a")
        d.checkpoint()
        d.send("ops", {"op": "put_item", "arg": 0}, key="a")  # uncommitted, merged with the committed ones
        d.send("ops", {"op": "items"}, key="a")
        d.send("ops", {"op": "contains", "arg": 9}, key="a")
        assert Ops.reads == [[(1, 10), (2, 20), (3, 30)], [(0, 0), (1, 10), (2, 20), (3, 30)], False]


def test_an_explicit_key_reads_another_keys_value() -> None:
    Ops.reads.clear()
    with driver() as d:
        d.send("ops", {"op": "set", "arg": "mine"}, key="k1")
        d.send("ops", {"op": "other_key", "arg": "k1"}, key="k2")
        assert Ops.reads == ["mine"]


def test_a_null_key_is_refused_with_a_hint() -> None:
    class NoKey(Bolt):
        stores: ClassVar[list[Store]] = [Store("s")]

        def process(self, tup: Tuple) -> None:
            self.state("s", key=tup.value.get("explicit")).set(1) if tup.value else self.state("s").set(1)

    topology = Topology("nokey")
    topology.spout("in", KafkaSpout("ops", value_serde=JsonSerde()))
    topology.bolt("b", NoKey).shuffle("in")
    with TopologyTestDriver(topology) as d:
        with pytest.raises(RecordFailedError, match=r"has key None; use a fields grouping or emit\(..., key=...\)"):
            d.send("ops", {})
        with pytest.raises(RecordFailedError, match="store 's': the key given is None"):
            d.send("ops", {"explicit": None}, partition=0)
