"""``streamproc lag TARGET [--json] [--watch SECONDS]``: committed offset, end offset and lag per partition.

Covers every topic the topology consumes: its inputs and its internal topics. A partition with no
committed offset counts its lag from the start of the log (the group would begin there, since it
reads from the earliest offset by default). End offsets are confirmed by a fetch per partition, since
a broker's offset lookup may report them low.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from streamproc.cli.connection import Connection, add_connection_arguments, connect
from streamproc.kafka import admin as kadmin
from streamproc.kafka.clients import new_consumer
from streamproc.kafka.config import consumer_config
from streamproc.kafka.reading import reader, true_watermarks


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "lag", help="committed offset, end offset and lag of every partition a topology consumes"
    )
    add_connection_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--watch", type=float, metavar="SECONDS", help="refresh every SECONDS until interrupted")
    parser.set_defaults(handler=handle)


def measure(conn: Connection, consumer: Consumer, records: Consumer) -> list[PartitionLag]:
    """``consumer`` reads the group's committed offsets; ``records`` fetches each partition's true end."""
    existing = kadmin.partition_counts(conn.admin)
    tps = [TopicPartition(topic, p) for topic in conn.plan.source_topics() if topic in existing
           for p in range(existing[topic])]
    if not tps:
        return []
    committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=15)}
    rows = []
    for tp in tps:
        low, high = true_watermarks(records, tp.topic, tp.partition)
        offset = committed.get((tp.topic, tp.partition))
        position = offset if offset is not None and offset >= 0 else None
        rows.append(PartitionLag(tp.topic, tp.partition, position, high,
                                 max(0, high - (position if position is not None else low))))
    return rows


def render(rows: list[PartitionLag]) -> str:
    width = max([len(r.topic) for r in rows] + [5])
    lines = [f"{'topic':<{width}}  {'part':>4}  {'committed':>10}  {'end':>10}  {'lag':>10}"]
    for r in rows:
        committed = "-" if r.committed is None else str(r.committed)
        lines.append(f"{r.topic:<{width}}  {r.partition:>4}  {committed:>10}  {r.end:>10}  {r.lag:>10}")
    lines.append(f"{'total':<{width}}  {'':>4}  {'':>10}  {'':>10}  {sum(r.lag for r in rows):>10}")
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    conn = connect(args)
    config = consumer_config(conn.bootstrap, conn.group_id, conn.overrides, f"{conn.plan.name}-lag")
    consumer = new_consumer(config)  # never subscribes: reading the group's offsets does not join it
    records = reader(conn.bootstrap, conn.overrides, f"{conn.plan.name}-lag")
    try:
        while True:
            rows = measure(conn, consumer, records)
            if args.json:
                print(json.dumps({"group": conn.group_id, "partitions": [asdict(r) for r in rows],
                                  "total": sum(r.lag for r in rows)}, indent=2))
            else:
                print(render(rows), flush=True)
            if not args.watch:
                return 0
            time.sleep(args.watch)
            print()
    except KeyboardInterrupt:
        return 0
    finally:
        consumer.close()
        records.close()
