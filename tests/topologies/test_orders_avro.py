"""topologies/orders_avro.py in the TopologyTestDriver, with an in-process mock:// Schema Registry."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import fastavro
import pytest

from streamproc.serde import ConfluentAvroSerde, SerdeContext
from streamproc.testing import TopologyTestDriver
from tests.support.kafka import REPO, unique

ORDER_V1 = {  # what the checkout wrote before currency existed
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [{"name": "order_id", "type": "string"}, {"name": "customer", "type": "string"},
               {"name": "amount", "type": "double"}],
}


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("orders_avro_example", REPO / "topologies" / "orders_avro.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


example = load_example()


@pytest.fixture
def registry() -> str:
    return f"mock://{unique('orders-avro')}"


@pytest.fixture
def driver(registry: str) -> Iterator[TopologyTestDriver]:
    with TopologyTestDriver(example.build(registry=registry), partitions=2, on_error="dlq") as test_driver:
        yield test_driver


def totals(driver: TopologyTestDriver) -> dict[str, Any]:
    """The latest CustomerTotal per output key."""
    return {record.key: record.value for record in driver.output("customer-totals")}


def test_orders_are_summed_per_customer_and_currency(driver: TopologyTestDriver) -> None:
    orders = [("o-1", "c-1", 10.0, "EUR"), ("o-2", "c-2", 5.5, "USD"), ("o-3", "c-1", 2.25, "EUR"),
              ("o-4", "c-1", 1.0, "USD")]
    for order_id, customer, amount, currency in orders:
        driver.send("orders", {"order_id": order_id, "customer": customer, "amount": amount, "currency": currency})
    CustomerTotal = example.CustomerTotal
    assert totals(driver) == {
        "c-1/EUR": CustomerTotal("c-1", "EUR", 2, 12.25),
        "c-1/USD": CustomerTotal("c-1", "USD", 1, 1.0),
        "c-2/USD": CustomerTotal("c-2", "USD", 1, 5.5),
    }
    assert driver.state("totals", ("c-1", "EUR")) == CustomerTotal("c-1", "EUR", 2, 12.25)


def test_orders_written_before_currency_existed_count_as_eur(driver: TopologyTestDriver, registry: str) -> None:
    old_producer = ConfluentAvroSerde(registry, ORDER_V1)
    old = old_producer.serialize({"order_id": "o-1", "customer": "c-1", "amount": 3.0}, SerdeContext("orders", False))
    driver.send("orders", old, raw=True)
    driver.send("orders", {"order_id": "o-2", "customer": "c-1", "amount": 4.0, "currency": "EUR"})
    assert totals(driver) == {"c-1/EUR": example.CustomerTotal("c-1", "EUR", 2, 7.0)}


def test_outputs_are_registered_avro_and_the_store_is_schemaless_avro(driver: TopologyTestDriver,
                                                                       registry: str) -> None:
    driver.send("orders", {"order_id": "o-1", "customer": "c-1", "amount": 3.0, "currency": "EUR"})
    driver.checkpoint()
    [output] = driver.records("customer-totals")
    schema_id = ConfluentAvroSerde(registry, example.TOTAL_SCHEMA).register("customer-totals")
    assert output.value()[:5] == b"\x00" + schema_id.to_bytes(4, "big")
    [change] = [m for m in driver.records(f"{driver.plan.name}-totals-changelog") if m.key().endswith(b'["c-1","EUR"]')]
    stored = fastavro.schemaless_reader(io.BytesIO(change.value()), fastavro.parse_schema(example.TOTAL_SCHEMA))
    assert stored == {"customer": "c-1", "currency": "EUR", "orders": 1, "amount": 3.0}


def test_undecodable_orders_are_dead_lettered_with_the_decoders_message(driver: TopologyTestDriver) -> None:
    driver.send("orders", b'{"order_id": "o-1"}', raw=True, partition=0)
    driver.send("orders", b"\x00\x00\x00\x00\x63\x02", raw=True, partition=0)
    driver.send("orders", {"order_id": "o-2", "customer": "c-1", "amount": 1.0, "currency": "EUR"})
    errors = [m.error for m in driver.dead_letters()]
    assert len(errors) == 2
    assert errors[0].startswith("not in the Confluent wire format on topic 'orders' (value): first byte 0x7b")
    assert errors[1].startswith("schema id 99 on topic 'orders' is not in the Schema Registry at mock://")
    assert totals(driver) == {"c-1/EUR": example.CustomerTotal("c-1", "EUR", 1, 1.0)}
