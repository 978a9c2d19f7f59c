"""ConfluentAvroSerde against the registry client's in-process ``mock://`` registry."""

from __future__ import annotations

import copy
import io
import json
import socket
import struct
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient

from streamproc import KafkaSpout, Topology
from streamproc.errors import ConfigError, SchemaError, SerdeError, ServiceError
from streamproc.serde import ConfluentAvroSerde, SerdeContext
from streamproc.serde.registry_client import connect
from streamproc.testing import TopologyTestDriver
from tests.support.bolts import Passthrough
from tests.support.kafka import unique

VALUE = SerdeContext("orders", is_key=False)
KEY = SerdeContext("orders", is_key=True)
V1: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [{"name": "order_id", "type": "string"}, {"name": "amount", "type": "double"}],
}
V2: dict[str, Any] = {**V1, "fields": [*V1["fields"], {"name": "currency", "type": "string", "default": "EUR"}]}
SECRET = "s3cr3t-Pa55"


def mock_url() -> str:
    """A registry of its own: clients are shared per URL within a process."""
    return f"mock://{unique('registry')}"


def client_of(url: str) -> SchemaRegistryClient:
    return connect(url).client


def test_wire_format_is_magic_byte_schema_id_and_avro_body() -> None:
    url = mock_url()
    serde = ConfluentAvroSerde(url, V1)
    data = serde.serialize({"order_id": "o-1", "amount": 2.5}, VALUE)
    assert data is not None
    registered = client_of(url).get_latest_version("orders-value")
    assert data[:5] == b"\x00" + struct.pack(">I", registered.schema_id)
    body = fastavro.schemaless_reader(io.BytesIO(data[5:]), fastavro.parse_schema(V1))
    assert body == {"order_id": "o-1", "amount": 2.5}
    assert json.loads(registered.schema.schema_str) == V1
    assert serde.deserialize(data, VALUE) == {"order_id": "o-1", "amount": 2.5}
    assert serde.serialize(None, VALUE) is None and serde.deserialize(None, VALUE) is None
    assert serde.shape == "mapping" and serde.record_fields == ("order_id", "amount")


@pytest.mark.parametrize(
    ("strategy", "value_subject", "key_subject"),
    [
        ("topic", "orders-value", "orders-key"),
        ("record", "shop.Order", "shop.Order"),
        ("topic_record", "orders-shop.Order", "orders-shop.Order"),
    ],
)
def test_subject_naming_strategies(strategy: Any, value_subject: str, key_subject: str) -> None:
    url = mock_url()
    serde = ConfluentAvroSerde(url, V1, subject_strategy=strategy)
    serde.serialize({"order_id": "o-1", "amount": 1.0}, VALUE)
    serde.serialize({"order_id": "o-1", "amount": 1.0}, KEY)
    assert sorted(client_of(url).get_subjects()) == sorted({value_subject, key_subject})
    assert serde.subject("orders") == value_subject and serde.subject("orders", is_key=True) == key_subject


def test_a_custom_strategy_is_called_with_topic_side_and_record_name() -> None:
    url = mock_url()
    serde = ConfluentAvroSerde(url, V1, subject_strategy=lambda topic, is_key, name: f"{name}@{topic}:{is_key}")
    serde.serialize({"order_id": "o-1", "amount": 1.0}, VALUE)
    assert client_of(url).get_subjects() == ["shop.Order@orders:False"]


def test_a_consumer_with_a_newer_schema_reads_old_records_and_vice_versa() -> None:
    url = mock_url()
    old_producer = ConfluentAvroSerde(url, V1)
    new_producer = ConfluentAvroSerde(url, V2)
    old = old_producer.serialize({"order_id": "o-1", "amount": 1.0}, VALUE)
    new = new_producer.serialize({"order_id": "o-2", "amount": 2.0, "currency": "USD"}, VALUE)
    assert old is not None and new is not None and old[:5] != new[:5]  # two versions, two ids

    new_consumer = ConfluentAvroSerde(url, reader_schema=V2)
    assert new_consumer.deserialize(old, VALUE) == {"order_id": "o-1", "amount": 1.0, "currency": "EUR"}
    assert new_consumer.deserialize(new, VALUE) == {"order_id": "o-2", "amount": 2.0, "currency": "USD"}
    old_consumer = ConfluentAvroSerde(url, reader_schema=V1)
    assert old_consumer.deserialize(new, VALUE) == {"order_id": "o-2", "amount": 2.0}
    as_written = ConfluentAvroSerde(url)
    assert as_written.shape == "any"
    assert as_written.deserialize(old, VALUE) == {"order_id": "o-1", "amount": 1.0}
    assert as_written.deserialize(new, VALUE) == {"order_id": "o-2", "amount": 2.0, "currency": "USD"}


def test_an_incompatible_writer_schema_is_a_clear_decode_error() -> None:
    url = mock_url()
    other = {"type": "record", "name": "Order", "namespace": "shop", "fields": [{"name": "order_id", "type": "long"}]}
    data = ConfluentAvroSerde(url, other).serialize({"order_id": 7}, VALUE)
    with pytest.raises(SerdeError, match=r"cannot decode Avro with schema id \d+ on topic 'orders' .*as shop\.Order"):
        ConfluentAvroSerde(url, reader_schema=V1).deserialize(data, VALUE)


def test_each_writer_schema_is_fetched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    url = mock_url()
    client = SchemaRegistryClient.new_client({"url": url})
    records = [ConfluentAvroSerde(client, V1).serialize({"order_id": f"o-{i}", "amount": float(i)}, VALUE)
               for i in range(50)]
    fetched: list[int] = []
    get_schema = client.get_schema

    def counting(schema_id: int, *args: Any, **kwargs: Any) -> Schema:
        fetched.append(schema_id)
        return get_schema(schema_id, *args, **kwargs)

    monkeypatch.setattr(client, "get_schema", counting)
    consumer = ConfluentAvroSerde(client, reader_schema=V2)
    assert [consumer.deserialize(r, VALUE)["amount"] for r in records] == [float(i) for i in range(50)]
    assert len(fetched) == 1


def test_a_schema_with_references_is_resolved_through_the_registry() -> None:
    url = mock_url()
    client = client_of(url)
    line = {"type": "record", "name": "Line", "namespace": "shop",
            "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}
    client.register_schema("shop.Line", Schema(json.dumps(line), "AVRO"))
    order = {"type": "record", "name": "Order", "namespace": "shop",
             "fields": [{"name": "order_id", "type": "string"}, {"name": "line", "type": "shop.Line"}]}
    schema_id = client.register_schema(
        "orders-value", Schema(json.dumps(order), "AVRO", [SchemaReference("shop.Line", "shop.Line", 1)]))
    named: dict[str, Any] = {}
    fastavro.parse_schema(line, named)
    body = io.BytesIO()
    record = {"order_id": "o-1", "line": {"sku": "a", "qty": 3}}
    fastavro.schemaless_writer(body, fastavro.parse_schema(order, named), record)
    data = b"\x00" + struct.pack(">I", schema_id) + body.getvalue()
    assert ConfluentAvroSerde(url).deserialize(data, VALUE) == record


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"order_id": "o-1"}', r"not in the Confluent wire format on topic 'orders' \(value\): first byte 0x7b"),
        (b"\x00\x00\x01", "3 bytes, fewer than the 5 of the magic byte and schema id"),
        (b"\x00\x00\x00\x03\xe7\x02x", r"schema id 999 on topic 'orders' is not in the Schema Registry at mock://"),
    ],
)
def test_records_not_in_the_wire_format_say_why(data: bytes, message: str) -> None:
    with pytest.raises(SerdeError, match=message):
        ConfluentAvroSerde(mock_url(), reader_schema=V1).deserialize(data, VALUE)


def test_a_damaged_body_says_which_schema_it_failed() -> None:
    url = mock_url()
    serde = ConfluentAvroSerde(url, V1)
    data = serde.serialize({"order_id": "o-1", "amount": 1.0}, VALUE)
    assert data is not None
    with pytest.raises(SerdeError, match=r"schema id \d+ on topic 'orders' \(9 bytes.*truncated or corrupt body"):
        serde.deserialize(data[:9], VALUE)
    with pytest.raises(SerdeError, match="1 bytes left over after the value"):
        serde.deserialize(data + b"\x00", VALUE)


def test_a_record_whose_schema_is_not_avro() -> None:
    url = mock_url()
    schema_id = client_of(url).register_schema("orders-value", Schema('{"type": "object"}', "JSON"))
    data = b"\x00" + struct.pack(">I", schema_id) + b"{}"
    with pytest.raises(SerdeError, match=f"schema id {schema_id} on topic 'orders' is a JSON schema, not Avro"):
        ConfluentAvroSerde(url).deserialize(data, VALUE)


def test_without_auto_register_the_schema_must_already_be_registered() -> None:
    url = mock_url()
    serde = ConfluentAvroSerde(url, V1, auto_register=False)
    with pytest.raises(ServiceError, match=r"not registered under subject 'orders-value'.*auto_register is off"):
        serde.serialize({"order_id": "o-1", "amount": 1.0}, VALUE)
    schema_id = ConfluentAvroSerde(url, V1).register("orders")
    assert serde.register("orders") == schema_id
    data = serde.serialize({"order_id": "o-1", "amount": 1.0}, VALUE)
    assert data is not None and data[1:5] == struct.pack(">I", schema_id)
    assert "auto_register=False" in repr(serde)


def test_producing_needs_a_schema() -> None:
    with pytest.raises(SerdeError, match="has no schema to write with"):
        ConfluentAvroSerde(mock_url()).serialize({"order_id": "o-1"}, VALUE)


def test_bad_settings_fail_at_construction() -> None:
    with pytest.raises(SchemaError, match="subject_strategy 'topics' is not one of"):
        ConfluentAvroSerde(mock_url(), V1, subject_strategy="topics")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="needs a record schema, got string"):
        ConfluentAvroSerde(mock_url(), "string", subject_strategy="record")
    with pytest.raises(SchemaError, match="ConfluentAvroSerde reader_schema does not parse"):
        ConfluentAvroSerde(mock_url(), reader_schema={"type": "record", "name": "X", "fields": [{"name": "a"}]})
    with pytest.raises(ConfigError, match=r"Unrecognized properties: bogus\.setting"):
        ConfluentAvroSerde({"url": mock_url(), "bogus.setting": 1}, V1)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("credentials", ["setting", "url"])
def test_secrets_stay_out_of_repr_and_errors(credentials: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    conf: dict[str, Any] = {"max.retries": 0}
    if credentials == "setting":
        conf.update({"url": url, "basic.auth.user.info": f"alice:{SECRET}"})
    else:
        conf["url"] = url.replace("http://", f"http://alice:{SECRET}@")
    serde = ConfluentAvroSerde(conf, V1)
    assert SECRET not in repr(serde) and url in repr(serde)
    errors: list[Exception] = []
    for call in (lambda: serde.deserialize(b"\x00\x00\x00\x00\x01\x02x", VALUE),
                 lambda: serde.serialize({"order_id": "o-1", "amount": 1.0}, VALUE)):
        with pytest.raises(ServiceError, match=f"cannot reach the Schema Registry at {url}") as raised:
            call()
        errors.append(raised.value)
    with pytest.raises(ConfigError) as bad:  # both forms at once: the client refuses, and says so
        ConfluentAvroSerde({"url": url.replace("http://", f"http://bob:{SECRET}@"),
                            "basic.auth.user.info": f"a:{SECRET}"})
    errors.append(bad.value)
    with pytest.raises(ConfigError) as bad_url:  # the client's message quotes the URL
        ConfluentAvroSerde({"url": f"ftp://bob:{SECRET}@127.0.0.1:1"})
    errors.append(bad_url.value)
    for error in errors:  # nor in a traceback: the client's own exception (which may quote the URL) is not chained
        assert SECRET not in str(error)
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_a_registry_outage_stops_processing_instead_of_dead_lettering() -> None:
    """Through the real reader and error policy: good records must not go to the DLQ while the registry is down."""
    topology = Topology("outage")
    serde = ConfluentAvroSerde({"url": f"http://127.0.0.1:{closed_port()}", "max.retries": 0}, reader_schema=V1)
    topology.spout("in", KafkaSpout("orders", value_serde=serde))
    topology.bolt("pass", Passthrough).shuffle("in")
    with TopologyTestDriver(topology, on_error="dlq") as driver:
        with pytest.raises(ServiceError, match="cannot reach the Schema Registry"):
            driver.send("orders", b"\x00\x00\x00\x00\x01\x02x\x00\x00\x00\x00\x00\x00\xf0?", raw=True)
        assert driver.dead_letters() == []


def test_copies_share_the_client_and_caches_but_not_the_write_buffer() -> None:
    """Bolts, and the serdes in them, are deep-copied per task; a registry client cannot be copied."""
    serde = ConfluentAvroSerde(mock_url(), V1)
    data = serde.serialize({"order_id": "o-1", "amount": 1.0}, VALUE)
    clone = copy.deepcopy(serde)
    assert clone._registry is serde._registry and clone._decoders is serde._decoders
    assert clone._buffer is not serde._buffer
    assert clone.serialize({"order_id": "o-1", "amount": 1.0}, VALUE) == data
