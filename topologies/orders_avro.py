"""Totals per customer and currency from Avro orders: Schema Registry in, a keyed store, Schema Registry out.

Input topic ``orders``: values in the Confluent wire format (magic byte, schema id, Avro body), written
with ``schemas/order.avsc`` or any compatible version of it; they are read as that schema, so orders
written before ``currency`` existed arrive with currency "EUR". Keys are ignored.

Output topic ``customer-totals``: key ``<customer>/<currency>`` (UTF-8), value a ``CustomerTotal``
in Avro, registered under ``customer-totals-value``; one record per order with the running total.

The registry is ``$SCHEMA_REGISTRY_URL`` (e.g. http://localhost:8081). Without it, ``mock://orders-avro``:
an in-process registry that only this process sees, enough for TopologyTestDriver but not for reading
records that other processes registered.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from streamproc import Bolt, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.serde import AvroSerde, ConfluentAvroSerde, DataclassSerde

ORDER_SCHEMA = Path(__file__).resolve().parent / "schemas" / "order.avsc"
TOTAL_SCHEMA = {
    "type": "record",
    "name": "CustomerTotal",
    "namespace": "shop",
    "fields": [
        {"name": "customer", "type": "string"},
        {"name": "currency", "type": "string"},
        {"name": "orders", "type": "long"},
        {"name": "amount", "type": "double"},
    ],
}
DEFAULT_REGISTRY = "mock://orders-avro"


@dataclass
class CustomerTotal:
    customer: str
    currency: str
    orders: int
    amount: float


class SumOrders(Bolt):
    """Adds each order to its (customer, currency) total; the store keeps totals as schemaless Avro."""

    stores = [Store("totals", value_serde=DataclassSerde(CustomerTotal, AvroSerde(TOTAL_SCHEMA)))]

    def process(self, tup: Tuple) -> None:
        order = tup.value
        totals = self.state("totals")
        total = totals.get(None) or CustomerTotal(order["customer"], order["currency"], 0, 0.0)
        total = replace(total, orders=total.orders + 1, amount=round(total.amount + order["amount"], 2))
        totals.set(total)
        self.emit(total, key=f"{total.customer}/{total.currency}")


def build(name: str = "orders-avro", source: str = "orders", sink: str = "customer-totals",
          registry: str | None = None) -> Topology:
    """The order totals with other names or another registry, so that tests can run many copies."""
    registry = registry or os.environ.get("SCHEMA_REGISTRY_URL") or DEFAULT_REGISTRY
    topology = Topology(name)
    orders = ConfluentAvroSerde(registry, reader_schema=ORDER_SCHEMA)
    topology.spout("orders", KafkaSpout(source, value_serde=orders))
    topology.bolt("sum", SumOrders).fields("orders", "customer", "currency")
    totals = DataclassSerde(CustomerTotal, ConfluentAvroSerde(registry, TOTAL_SCHEMA))
    topology.bolt("sink", KafkaSink(sink, key_serde=StrSerde(), value_serde=totals)).shuffle("sum")
    return topology


topology = build()
