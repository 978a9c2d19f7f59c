"""Schemaless Avro: schemas parsed once at construction, clear errors for bad schemas and bad bytes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest

from streamproc.errors import SchemaError, SerdeError, TopologyError
from streamproc.loader import load_topology
from streamproc.serde import AvroSerde, SerdeContext, avro_schema
from streamproc.serde.avro_schema import load_schema, make_decoder

CTX = SerdeContext("orders", is_key=False)
ORDER = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "lines", "type": {"type": "array", "items": {
            "type": "record", "name": "Line",
            "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
    ],
}
RECORD = {"order_id": "o-1", "amount": 12.5, "note": None, "lines": [{"sku": "a", "qty": 2}]}


def test_record_round_trip_is_plain_avro() -> None:
    serde = AvroSerde(ORDER)
    data = serde.serialize(RECORD, CTX)
    assert data is not None
    assert fastavro.schemaless_reader(io.BytesIO(data), fastavro.parse_schema(ORDER)) == RECORD
    assert serde.deserialize(data, CTX) == RECORD
    assert serde.serialize(None, CTX) is None and serde.deserialize(None, CTX) is None
    assert serde.shape == "mapping" and serde.record_fields == ("order_id", "amount", "note", "lines")
    assert repr(serde) == "AvroSerde(shop.Order)"


def test_schema_from_json_text_avsc_file_or_primitive(tmp_path: Path) -> None:
    path = tmp_path / "order.avsc"
    path.write_text(json.dumps(ORDER))
    expected = AvroSerde(ORDER).serialize(RECORD, CTX)
    for schema in (json.dumps(ORDER), path, str(path)):
        assert AvroSerde(schema).serialize(RECORD, CTX) == expected
    text = AvroSerde("string")
    assert text.shape == "scalar"
    assert text.deserialize(text.serialize("héllo", CTX), CTX) == "héllo"


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}, "does not parse: UnknownType"),
        ({"type": "record", "name": "X", "fields": [{"name": "a", "type": "int", "default": "x"}]}, "Default value"),
        ({"type": "record", "fields": []}, '"name" is a required field'),
        ('{"type": "record", ', "not valid JSON"),
        ("no/such/order.avsc", "neither Avro JSON"),
        (42, "must be a dict"),
    ],
)
def test_a_bad_schema_fails_at_construction(schema: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message) as raised:
        AvroSerde(schema)  # type: ignore[arg-type]
    assert isinstance(raised.value, TopologyError)


def test_a_bad_schema_fails_the_topology_when_it_is_imported(tmp_path: Path) -> None:
    target = tmp_path / "bad_topology.py"
    target.write_text(
        "from streamproc import KafkaSpout, Topology\n"
        "from streamproc.serde import AvroSerde\n"
        "topology = Topology('t')\n"
        "topology.spout('in', KafkaSpout('in', value_serde=AvroSerde({'type': 'record', 'name': 'X', "
        "'fields': [{'name': 'a', 'type': 'integer'}]})))\n"
    )
    with pytest.raises(SchemaError, match="AvroSerde schema does not parse: UnknownType: integer"):
        load_topology(str(target))


def test_undecodable_bytes_say_what_is_wrong() -> None:
    serde = AvroSerde(ORDER)
    data = serde.serialize(RECORD, CTX)
    assert data is not None
    with pytest.raises(SerdeError, match=r"not valid Avro shop.Order on topic 'orders' .*truncated or corrupt body"):
        serde.deserialize(data[:-3], CTX)
    with pytest.raises(SerdeError, match="2 bytes left over after the value"):
        serde.deserialize(data + b"\x00\x00", CTX)
    with pytest.raises(SerdeError, match="truncated or corrupt body"):
        serde.deserialize(b"", CTX)


def test_values_that_do_not_fit_the_schema_name_the_field() -> None:
    serde = AvroSerde(ORDER)
    with pytest.raises(SerdeError, match=r"cannot encode dict as Avro shop.Order for topic 'orders': .*amount"):
        serde.serialize({**RECORD, "amount": "twelve"}, CTX)
    with pytest.raises(SerdeError, match=r"record shop\.Order needs a dict, got list"):
        serde.serialize([1], CTX)


def test_the_fast_read_path_decodes_exactly_as_fastavro_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema resolution (a union, a nested record, a new field with a default) through both read paths."""
    writer = load_schema(ORDER)
    reader_json = json.loads(json.dumps(ORDER))
    reader_json["fields"].append({"name": "currency", "type": "string", "default": "EUR"})
    reader = load_schema(reader_json)
    data = AvroSerde(ORDER).serialize({**RECORD, "note": "gift"}, CTX)
    assert data is not None
    assert avro_schema._read_data is not None, "the probe should accept this fastavro's internal reader"
    fast = make_decoder(writer, reader)(io.BytesIO(data))
    monkeypatch.setattr(avro_schema, "_read_data", None)
    public = make_decoder(writer, reader)(io.BytesIO(data))
    assert fast == public == {**RECORD, "note": "gift", "currency": "EUR"}
