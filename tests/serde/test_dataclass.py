"""DataclassSerde: records as the user's dataclasses over JSON or Avro, checked against the schema when built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from streamproc import KafkaSpout, Topology, TopologyError
from streamproc.errors import SchemaError, SerdeError
from streamproc.serde import AvroSerde, ConfluentAvroSerde, DataclassSerde, SerdeContext
from tests.support.bolts import Passthrough
from tests.support.kafka import unique

CTX = SerdeContext("orders", is_key=False)


@dataclass
class Line:
    sku: str
    qty: int


@dataclass
class Order:
    order_id: str
    lines: list[Line]
    gift: Line | None = None
    by_sku: dict[str, Line] = field(default_factory=dict)


@dataclass
class Node:
    value: int
    children: list[Node]


LINE_SCHEMA = {"type": "record", "name": "Line",
               "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}
ORDER_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "lines", "type": {"type": "array", "items": LINE_SCHEMA}},
        {"name": "gift", "type": ["null", "Line"], "default": None},
        {"name": "by_sku", "type": {"type": "map", "values": "Line"}, "default": {}},
    ],
}
ORDER = Order("o-1", [Line("a", 1), Line("b", 2)], Line("g", 1), {"a": Line("a", 1)})


def test_json_round_trip_with_nested_dataclasses() -> None:
    serde = DataclassSerde(Order)
    data = serde.serialize(ORDER, CTX)
    assert data == (b'{"order_id":"o-1","lines":[{"sku":"a","qty":1},{"sku":"b","qty":2}],'
                    b'"gift":{"sku":"g","qty":1},"by_sku":{"a":{"sku":"a","qty":1}}}')
    assert serde.deserialize(data, CTX) == ORDER
    assert serde.deserialize(b'{"order_id":"o-2","lines":[]}', CTX) == Order("o-2", [])
    assert serde.serialize(None, CTX) is None and serde.deserialize(None, CTX) is None


def test_a_dataclass_that_contains_itself() -> None:
    serde = DataclassSerde(Node)
    tree = Node(1, [Node(2, [Node(3, [])]), Node(4, [])])
    assert serde.deserialize(serde.serialize(tree, CTX), CTX) == tree


def test_avro_round_trip_schemaless_and_through_the_registry() -> None:
    for codec in (AvroSerde(ORDER_SCHEMA), ConfluentAvroSerde(f"mock://{unique('dc')}", ORDER_SCHEMA)):
        serde = DataclassSerde(Order, codec)
        assert serde.deserialize(serde.serialize(ORDER, CTX), CTX) == ORDER
        assert repr(serde).startswith("DataclassSerde(Order, ")


def test_records_that_do_not_fit_the_class_name_the_fields() -> None:
    serde = DataclassSerde(Order)
    with pytest.raises(SerdeError, match=r"does not fit Order: unknown fields \['extra'\]"):
        serde.deserialize(b'{"order_id":"o-1","lines":[],"extra":1}', CTX)
    with pytest.raises(SerdeError, match=r"does not fit Order: missing fields \['order_id'\]"):
        serde.deserialize(b'{"lines":[]}', CTX)
    with pytest.raises(SerdeError, match=r"does not fit Line: missing fields \['qty'\]"):
        serde.deserialize(b'{"order_id":"o-1","lines":[{"sku":"a"}]}', CTX)
    with pytest.raises(SerdeError, match="does not fit Order: expected a record, got list"):
        serde.deserialize(b"[1, 2]", CTX)
    with pytest.raises(SerdeError, match="invalid JSON"):  # the codec's own message
        serde.deserialize(b"{", CTX)
    with pytest.raises(SerdeError, match=r"DataclassSerde\(Order\) on topic 'orders' got dict"):
        serde.serialize({"order_id": "o-1"}, CTX)


def test_the_class_is_checked_against_the_schema_when_built() -> None:
    with pytest.raises(SchemaError, match=r"the schema's fields \['sku', 'qty'\] are not fields of Order; Order's "
                                          r"fields \['order_id', 'lines'\] have no default and are not in the schema"):
        DataclassSerde(Order, AvroSerde(LINE_SCHEMA))
    fewer = {**ORDER_SCHEMA, "fields": ORDER_SCHEMA["fields"][:2]}
    serde = DataclassSerde(Order, AvroSerde(fewer))  # fields with defaults may be missing from the schema
    assert serde.deserialize(serde.serialize(Order("o-1", []), CTX), CTX) == Order("o-1", [])


def test_bad_arguments_fail_when_built() -> None:
    with pytest.raises(TopologyError, match="needs a dataclass type"):
        DataclassSerde(ORDER)  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="codec must be 'json' or a serde"):
        DataclassSerde(Order, "avro")  # type: ignore[arg-type]


def test_a_fields_grouping_on_dataclass_values_fails_when_the_topology_is_built() -> None:
    topology = Topology("t")
    topology.spout("orders", KafkaSpout("orders", value_serde=DataclassSerde(Order)))
    topology.bolt("by_id", Passthrough).fields("orders", "order_id")
    with pytest.raises(TopologyError, match=r"groups by \['order_id'\] from spout 'orders' \(DataclassSerde values\)"):
        topology.build()
