"""Windowed-aggregation benchmark: a tumbling count with final emission, or a session sum, in one worker process.

Runs through the keyed count's harness (bench/keyed_count.py: same broker, loading, worker, clocks and
report), so its figures compare with ``make bench``'s directly. ``--messages`` records (``{"id": i,
"amount": 3}``) of random keys out of ``--keys``, with event times (their Kafka timestamps) spread evenly over
an hour, each up to 5 s out of order: within the 10 s grace, so none is late.

- ``--kind tumbling`` (default): ``Tumbling(size=1 min, grace=10 s)``, ``agg.count()``, ``emit_mode="final"``.
- ``--kind session``: ``Session(gap=30 s, grace=10 s)``, ``agg.sum("amount")``, final.

Correctness: every window the input closes (per partition: its end + grace at most the partition's highest
event time; sessions: last + gap + grace below it) must have exactly one final with the right value, and
nothing else may come out. The truth is computed here from the generated input, independently of the framework.

    python bench/windows.py                        # 1,000,000 messages, tumbling
    python bench/windows.py --kind session
    python bench/windows.py --messages 100000 --profile
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
from keyed_count import Workload, consume_all, main, make_parser, produce_all

from streamproc import JsonSerde, KafkaSink, KafkaSpout, StrSerde, Topology
from streamproc.kafka.memory import murmur2_partition
from streamproc.plan import Plan
from streamproc.windows import Session, Tumbling, WindowedBolt, agg

MINUTE = 60_000
SPAN = 60 * MINUTE
JITTER = 5_000
GRACE = 10_000
GAP = 30_000


class CountPerMinute(WindowedBolt):
    window = Tumbling(size=MINUTE, grace=GRACE)
    aggregation = agg.count()
    emit_mode = "final"


class SessionAmounts(WindowedBolt):
    window = Session(gap=GAP, grace=GRACE)
    aggregation = agg.sum("amount")
    emit_mode = "final"


def events(messages: int, keys: int, partitions: int, base: int) -> Iterator[tuple[int, int, int]]:
    """(message number, key number, event time) of every input record, in the order produced."""
    rng = random.Random(1)
    for i in range(messages):
        yield i, rng.randrange(keys), base + i * SPAN // messages - rng.randrange(JITTER + 1)


def windowed_count(args: argparse.Namespace) -> Workload:
    n, keys, partitions, kind = args.messages, args.keys, args.partitions, args.kind
    base = (int(time.time() * 1000) - 2 * SPAN) // MINUTE * MINUTE  # an hour that ended an hour ago
    key_bytes = [f"key-{k}".encode() for k in range(keys)]
    partition_of = [murmur2_partition(key, partitions) for key in key_bytes]
    bolt = CountPerMinute if kind == "tumbling" else SessionAmounts

    def build(name: str, source: str, sink: str) -> Plan:
        t = Topology(name)
        t.spout("in", KafkaSpout(source, key_serde=StrSerde(), value_serde=JsonSerde()))
        t.bolt("window", bolt).shuffle("in")  # the input is keyed already: no repartition
        t.bolt("out", KafkaSink(sink, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("window")
        return t.build()

    def load(bootstrap: str, source: str) -> dict[int, int]:
        per_partition: Counter[int] = Counter()
        errors: list[str] = []

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        dumps = orjson.dumps

        def records() -> Iterator[tuple[bytes, bytes, int, int]]:
            for i, k, ts in events(n, keys, partitions, base):
                partition = partition_of[k]
                per_partition[partition] += 1
                yield key_bytes[k], dumps({"id": i, "amount": 3}), partition, ts

        produce_all(bootstrap, source, records(), delivered, errors)
        return dict(per_partition)

    def truth() -> dict[tuple[str, int, int], int]:
        """Every final the input closes, with its value."""
        stream_time: dict[int, int] = {}
        times: dict[int, list[int]] = {}
        for _i, k, ts in events(n, keys, partitions, base):
            stream_time[partition_of[k]] = max(stream_time.get(partition_of[k], -1), ts)
            times.setdefault(k, []).append(ts)
        finals: dict[tuple[str, int, int], int] = {}
        for k, stamps in times.items():
            closes_before = stream_time[partition_of[k]]
            if kind == "tumbling":
                for start, count in Counter(ts - ts % MINUTE for ts in stamps).items():
                    if start + MINUTE + GRACE <= closes_before:
                        finals[(f"key-{k}", start, start + MINUTE)] = count
                continue
            stamps.sort()
            first = 0
            for j in range(1, len(stamps) + 1):
                if j == len(stamps) or stamps[j] - stamps[j - 1] > GAP:
                    if stamps[j - 1] + GAP + GRACE < closes_before:
                        finals[(f"key-{k}", stamps[first], stamps[j - 1])] = 3 * (j - first)
                    first = j
        return finals

    def verify(bootstrap: str, sink: str) -> tuple[bool, str]:
        expected = truth()
        seen: Counter[tuple[str, int, int]] = Counter()
        wrong = 0
        loads = orjson.loads

        def handle(msg: Any) -> None:
            nonlocal wrong
            value = loads(msg.value())
            window = (value["key"], value["start"], value["end"])
            seen[window] += 1
            wrong += expected.get(window) != value["value"] or value["key"] != msg.key().decode()

        records = consume_all(bootstrap, sink, partitions, len(expected), handle)
        missing = len(expected.keys() - seen.keys())
        repeated = sum(c - 1 for c in seen.values())
        ok = not (missing or wrong or repeated)
        return ok, (f"{records:,} finals ({kind}) for {n:,} inputs, {len(expected):,} windows closed by the input: "
                    f"{missing} missing, {wrong} wrong or unexpected, {repeated} repeated")

    return Workload(f"windows-{kind}", build, load, verify)


def parser() -> argparse.ArgumentParser:
    made = make_parser(__doc__)
    made.add_argument("--kind", choices=("tumbling", "session"), default="tumbling",
                      help="tumbling count per minute (default) or session sum")
    return made


if __name__ == "__main__":
    sys.exit(main(None, windowed_count, parser()))
