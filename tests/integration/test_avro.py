"""topologies/orders_avro.py as real worker processes on the embedded broker, reading the Confluent wire format.

The registry is the client's ``mock://`` one, which lives in the memory of one process: schemas the
test registers are not visible to the worker. Both sides therefore register the schema the producer
writes with, each in a fresh registry of its own, before anything else: the mock registry numbers
schemas from 1 in registration order, so both give it id 1 (asserted below for the test's side; the
worker's side is proven by the worker decoding the records at all). Against a real registry the two
would share it and no such step is needed; the code paths that read and write the wire format are
the same. Looking schemas up by id in a registry shared between serdes is covered in-process by
tests/serde/test_registry.py.

The producer writes an older version of the order schema (no currency), so the workers also show
reader-schema evolution across processes: every total comes out in the default currency, EUR.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from streamproc.serde import AvroSerde, ConfluentAvroSerde, SerdeContext
from tests.support.kafka import REPO, RunningTopology, TopicTail, create_topic, produce, read_all, unique, wait_for

pytestmark = pytest.mark.integration

ORDER_V1 = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [{"name": "order_id", "type": "string"}, {"name": "customer", "type": "string"},
               {"name": "amount", "type": "double"}],
}
TOTAL_SCHEMA = {  # topologies/orders_avro.py's, for reading the output without importing the example
    "type": "record",
    "name": "CustomerTotal",
    "namespace": "shop",
    "fields": [{"name": "customer", "type": "string"}, {"name": "currency", "type": "string"},
               {"name": "orders", "type": "long"}, {"name": "amount", "type": "double"}],
}


def write_target(path: Path, name: str, source: str, sink: str, registry: str) -> None:
    path.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO / 'topologies')!r})\n"
        "from orders_avro import build\n"
        "from streamproc.serde import ConfluentAvroSerde\n"
        "# mock:// is this process's own registry: register what the producer writes with, as it would\n"
        f"ConfluentAvroSerde({registry!r}, {json.dumps(ORDER_V1)}).register({source!r})\n"
        f"topology = build({name!r}, {source!r}, {sink!r}, {registry!r})\n"
    )


def test_avro_orders_are_totalled_and_undecodable_ones_dead_lettered(broker: str, tmp_path: Path) -> None:
    name = unique("orders")
    source, sink, registry = f"{name}-in", f"{name}-customer-totals", f"mock://{name}"
    create_topic(broker, source, 2)
    producer_serde = ConfluentAvroSerde(registry, ORDER_V1)
    assert producer_serde.register(source) == 1  # the id the worker's own mock registry gives the same schema

    rng = random.Random(11)
    ctx = SerdeContext(source, is_key=False)
    expected: dict[str, tuple[int, float]] = {}
    values: list[bytes] = []
    for i in range(200):
        customer, amount = f"c-{rng.randint(1, 8)}", rng.randint(100, 10_000) / 100
        count, total = expected.get(f"{customer}/EUR", (0, 0.0))
        expected[f"{customer}/EUR"] = (count + 1, round(total + amount, 2))
        value = producer_serde.serialize({"order_id": f"o-{i}", "customer": customer, "amount": amount}, ctx)
        assert value is not None
        values.append(value)
    bad = [
        b'{"order_id": "o-json", "customer": "c-1", "amount": 1.0}',  # not the wire format
        values[0][:-4],  # truncated body
        b"\x00\x00\x00\x00\x2a" + values[0][5:],  # a schema id the registry does not have
    ]
    produce(broker, source, values[:100])
    produce(broker, source, bad, partition=0)
    produce(broker, source, values[100:])

    target = tmp_path / "target.py"
    write_target(target, name, source, sink, registry)
    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log", "--on-error", "dlq")
    tail = TopicTail(broker, sink)
    totals = AvroSerde(TOTAL_SCHEMA)
    latest: dict[str, tuple[int, float]] = {}
    seen = 0

    def caught_up() -> bool:
        nonlocal seen
        if running.process.poll() is not None:
            raise AssertionError(f"the topology exited with {running.process.returncode}:\n{running.log()[-3000:]}")
        tail.poll()
        for record in tail.records[seen:]:
            assert record.value()[:1] == b"\x00", "outputs are in the Confluent wire format"
            value: dict[str, Any] = totals.deserialize(record.value()[5:], ctx)
            key = record.key().decode()
            assert key == f"{value['customer']}/{value['currency']}"
            if value["orders"] >= latest.get(key, (0, 0.0))[0]:
                latest[key] = (value["orders"], value["amount"])
        seen = len(tail.records)
        return latest == expected

    def dead_letters() -> list[Any]:
        found = read_all(broker, f"{name}-dlq")
        return found if len(found) >= len(bad) else []

    try:
        wait_for(caught_up, 90, "exact totals per customer")
        dead = wait_for(dead_letters, 30, "three dead letters")
    finally:
        tail.close()
        assert running.stop() == 0, running.log()[-3000:]
    assert len(tail.records) == 200  # one output per good order, none for the bad ones
    assert [m.value() for m in dead] == bad
    errors = [dict(m.headers())["streamproc.error"].decode() for m in dead]
    assert errors[0].startswith(f"not in the Confluent wire format on topic {source!r} (value): first byte 0x7b")
    assert errors[1].startswith(f"cannot decode Avro with schema id 1 on topic {source!r}")
    assert "truncated or corrupt body" in errors[1]
    assert errors[2].startswith(f"schema id 42 on topic {source!r} is not in the Schema Registry at {registry}")
    assert all(dict(m.headers())["streamproc.component"] == b"orders" for m in dead)
