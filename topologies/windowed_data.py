"""Input for the windowed examples (topologies/sessions.py, topologies/pageviews.py): clicks and page views
with event times, arriving out of order, a few of them late.

Real clickstreams arrive out of order (mobile clients buffer, collectors retry), so each record is delayed
between its event time and its arrival by a few seconds (``jitter``), and a small share of them
(``late_share``) by far longer than any window's grace: those are the records a windowed bolt must route
to its ``late`` stream. Records are produced in arrival order, each with its event time both in the value
(``"ts"``, which the examples' spouts read) and as its Kafka timestamp. Output is deterministic per seed.

    python topologies/windowed_data.py clicks --bootstrap-servers 127.0.0.1:9092 --count 20000
    python topologies/windowed_data.py pageviews --bootstrap-servers 127.0.0.1:9092

The topic is created when missing (4 partitions, as ``streamproc run``'s embedded broker does). Each
record's partition is the key's murmur2 partition (Kafka's Java default), so that a test can tell which
records one task saw. Without ``--start``, event times end about now (a broker applies retention by
record timestamps, and a worker refuses times far in the future).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from typing import Any

MINUTE = 60_000
#: (key, value, event time ms), in arrival order.
Row = tuple[str, dict[str, Any], int]

PAGES = ("/", "/search", "/cart", "/checkout", "/help", "/account", "/blog", "/pricing", "/docs", "/about")


def _arrival_order(rows: list[Row], rng: random.Random, jitter: int, late_share: float, late_delay: int) -> list[Row]:
    """Sorts rows by event time plus a random delay: ``jitter`` ms at most for most, ``late_delay`` ms and more for
    a ``late_share`` of them. Ties keep the generation order."""
    def delay() -> int:
        if rng.random() < late_share:
            return late_delay + rng.randrange(late_delay)
        return rng.randrange(jitter + 1)
    arrivals = [(row[2] + delay(), index, row) for index, row in enumerate(rows)]
    return [row for _arrival, _index, row in sorted(arrivals)]


def clicks(count: int = 10_000, users: int = 200, seed: int = 1, start: int = 0, *, jitter: int = 20_000,
           late_share: float = 0.01, late_delay: int = 60 * MINUTE) -> list[Row]:
    """``count`` clicks of ``users`` users: each user has sessions of 1 to 15 clicks 5 s to 3 min apart, with
    pauses of 35 to 120 minutes between sessions (more than the example's 30-minute gap). Key: the user;
    value: ``{"user", "page", "ts"}``."""
    rng = random.Random(seed)
    clock = {f"user-{n}": start + rng.randrange(30 * MINUTE) for n in range(users)}
    left_in_session = {user: rng.randint(1, 15) for user in clock}
    rows: list[Row] = []
    for _ in range(count):
        user = rng.choice(sorted(clock))
        ts = clock[user]
        rows.append((user, {"user": user, "page": rng.choice(PAGES), "ts": ts}, ts))
        left_in_session[user] -= 1
        if left_in_session[user] == 0:
            left_in_session[user] = rng.randint(1, 15)
            clock[user] = ts + rng.randint(35 * MINUTE, 120 * MINUTE)
        else:
            clock[user] = ts + rng.randint(5_000, 3 * MINUTE)
    return _arrival_order(rows, rng, jitter, late_share, late_delay)


def pageviews(count: int = 10_000, pages: int = 10, minutes: int = 60, seed: int = 1, start: int = 0, *,
              jitter: int = 20_000, late_share: float = 0.01, late_delay: int = 30 * MINUTE,
              quiet: int = 2) -> list[Row]:
    """``count`` views of ``pages`` pages spread over ``minutes`` of event time, more for the first pages than
    the last (weights 1/rank). The last ``quiet`` pages get no views after the first third of the time, so an
    alert for quiet pages fires for them. Key: the page; value: ``{"page", "user", "ts"}``."""
    rng = random.Random(seed)
    names = [PAGES[n] if n < len(PAGES) else f"/page-{n}" for n in range(pages)]
    weights = [1 / (rank + 1) for rank in range(pages)]
    span = minutes * MINUTE
    rows: list[Row] = []
    for _ in range(count):
        page = rng.choices(names, weights)[0]
        limit = span // 3 if names.index(page) >= pages - quiet else span
        ts = start + rng.randrange(limit)
        rows.append((page, {"page": page, "user": f"user-{rng.randrange(1000)}", "ts": ts}, ts))
    rows.sort(key=lambda row: row[2])
    return _arrival_order(rows, rng, jitter, late_share, late_delay)


def murmur2_partition(key: str, partitions: int) -> int:
    """The partition Kafka's Java producer (and streamproc's test driver) gives a UTF-8 key."""
    from streamproc.kafka.memory import murmur2_partition as partition_of
    return partition_of(key.encode(), partitions)


def produce(bootstrap: str, topic: str, rows: Sequence[Row], partitions: int = 4) -> None:
    """Creates ``topic`` if missing, then produces ``rows`` in order: JSON values, UTF-8 keys, the event time as
    the Kafka timestamp, each key to its murmur2 partition of the topic's actual partition count."""
    from confluent_kafka import KafkaException, Producer
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(timeout=15)
    if topic not in metadata.topics:
        try:
            admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=15)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
        metadata = admin.list_topics(topic, timeout=15)
    count = len(metadata.topics[topic].partitions) or partitions
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True})
    for index, (key, value, ts) in enumerate(rows):
        producer.produce(topic, json.dumps(value).encode(), key.encode(), murmur2_partition(key, count),
                         on_delivery=on_delivery, timestamp=ts)
        if index % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(30)
    if remaining or failures:
        raise RuntimeError(f"producing to {topic!r} failed: {remaining} undelivered, errors: {failures[:3]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("kind", choices=("clicks", "pageviews"))
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--topic", help="default: the kind's name, the example topology's input")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, help="epoch ms the event times count from (default: so that the "
                                                  "latest is a minute before now)")
    args = parser.parse_args(argv)
    now = int(time.time() * 1000)
    if args.kind == "clicks":
        rows = clicks(args.count, seed=args.seed, start=0)
    else:
        rows = pageviews(args.count, seed=args.seed, start=0)
    start = args.start if args.start is not None else now - max(row[2] for row in rows) - MINUTE
    rows = [(key, {**value, "ts": value["ts"] + start}, ts + start) for key, value, ts in rows]
    produce(args.bootstrap_servers, args.topic or args.kind, rows)
    print(f"produced {len(rows):,} {args.kind} to {args.topic or args.kind!r} on {args.bootstrap_servers}, event "
          f"times {min(r[2] for r in rows)} .. {max(r[2] for r in rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
