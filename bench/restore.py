"""Restore benchmark: rebuild a store from a changelog of N records, through the worker's restore path.

Loads ``--records`` changelog records (``--keys`` distinct keys, JSON counts, the provenance header
every changelog record carries) into one partition of a compacted topic, then restores them into
an empty local RocksDB with ``ChangelogRestorer``, the code a worker runs on assignment: batched
consume, the skip rule for uncommitted records, one WriteBatch per fetched batch. Loading is not
timed. The broker keeps no compaction here, so every record is replayed (the worst case).

Correctness: the restored store must hold, for every key, the last value written.

    python bench/restore.py                    # 1,000,000 records on an embedded broker
    python bench/restore.py --records 200000   # smoke run
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import orjson
from clocks import cpu_seconds, machine_report, machine_seconds, process_cpu_seconds
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streamproc.devbroker import EmbeddedBroker
from streamproc.kafka.config import restore_consumer_config
from streamproc.serde.json import JsonSerde
from streamproc.state.changelog import SOURCE_HEADER, encode_sources
from streamproc.state.partition import StorePartition
from streamproc.state.recovery import ChangelogRestorer
from streamproc.state.rocksdb import RocksDBBackend
from streamproc.state.store import Store, key_prefix

#: Changelog records written per checkpoint (each dirty key once); they share a provenance header.
CHECKPOINT_RECORDS = 10_000


def load(bootstrap: str, topic: str, records: int, keys: int, partitions: int) -> dict[bytes, bytes]:
    """Write the changelog as workers would (batched; a checkpoint's records share a header); returns the
    last value per key. Key k lives in partition k % partitions."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1, config={"cleanup.policy": "compact"})])[topic].result()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000,
                         "queue.buffering.max.messages": 1_000_000, "enable.idempotence": True})
    last: dict[bytes, bytes] = {}
    encoded_keys = [key_prefix(orjson.dumps(f"key-{k}")) for k in range(keys)]
    headers: list[tuple[str, str | bytes | None]] = []
    for i in range(records):
        key = encoded_keys[i % keys]
        partition = (i % keys) % partitions
        value = orjson.dumps(i // keys + 1)
        if i % CHECKPOINT_RECORDS == 0:
            # A checkpoint's records share one provenance header: the last input offset it reflects
            # (all below the committed offset the restore is given, so every record applies).
            headers = [(SOURCE_HEADER, encode_sources({("input", 0): i + CHECKPOINT_RECORDS - 1}))]
        while True:
            try:
                producer.produce(topic, value, key, partition, headers=headers)
                break
            except BufferError:
                producer.poll(0.1)
        last[key] = value
        if i % 50_000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    if remaining:
        sys.exit(f"{remaining} changelog records not acknowledged")
    return last


@dataclass
class Share:
    """What one worker process measured restoring its partitions."""

    started: float  # time.perf_counter(): CLOCK_MONOTONIC, comparable between processes
    finished: float
    cpu: float  # the process, all threads
    restoring_thread: float  # the thread running the restore (consume, skip rule, WriteBatch)


def assigned(worker: int, workers: int, partitions: int) -> list[int]:
    """Contiguous ranges, as the range assignor gives a topic's partitions to a group's members."""
    return list(range(worker * partitions // workers, (worker + 1) * partitions // workers))


def store_at(state_dir: Path, topic: str, partition: int) -> StorePartition:
    backend = RocksDBBackend.open(state_dir / "counts" / str(partition), state_dir)
    return StorePartition(Store("counts", value_serde=JsonSerde()), backend, topic, partition)


def restore_share(bootstrap: str, topic: str, state_dir: Path, records: int, partitions: list[int],
                  ready: Barrier, results: Queue[Share]) -> None:
    """One worker process: its partitions at once, with one restore consumer, as a worker restores the tasks
    it was given. Starts when every worker is ready, so that they restore side by side."""
    stores = [store_at(state_dir, topic, p) for p in partitions]
    consumer = Consumer(restore_consumer_config(bootstrap, f"bench-{uuid.uuid4().hex[:6]}", {}, "bench-restore"))
    restorer = ChangelogRestorer(consumer)
    ready.wait()
    started, cpu, thread = time.perf_counter(), cpu_seconds(), time.thread_time()
    for store in stores:
        restorer.begin(f"task-{store.partition}", store, {("input", 0): records + CHECKPOINT_RECORDS})
    while restorer.busy:
        restorer.step(0.5)
    results.put(Share(started, time.perf_counter(), cpu_seconds() - cpu, time.thread_time() - thread))
    consumer.close()
    for store in stores:
        store.close()


def restore(bootstrap: str, topic: str, state_dir: Path, records: int, partitions: int, workers: int,
            broker_pid: int | None) -> None:
    """Restores in ``workers`` processes (as ``streamproc run --workers N`` would) and prints the figures."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that has run librdkafka threads
    ready = context.Barrier(workers + 1)
    results: Queue[Share] = context.Queue()
    processes = [context.Process(target=restore_share, args=(bootstrap, topic, state_dir, records,
                                                              assigned(w, workers, partitions), ready, results))
                 for w in range(workers)]
    for process in processes:
        process.start()
    ready.wait()
    broker_cpu, (busy, stolen) = process_cpu_seconds(broker_pid), machine_seconds()
    shares = [results.get(timeout=600) for _ in processes]
    broker_cpu, (busy, stolen) = process_cpu_seconds(broker_pid) - broker_cpu, (
        b - a for a, b in zip((busy, stolen), machine_seconds(), strict=True))
    for process in processes:
        process.join()
    elapsed = max(s.finished for s in shares) - min(s.started for s in shares)
    cpu, thread = sum(s.cpu for s in shares), sum(s.restoring_thread for s in shares)
    per = 1e6 / records
    print(f"restored {records:,} records with {workers} worker process(es) in {elapsed:.2f}s: "
          f"{records / elapsed:,.0f} records/s")
    print(f"CPU-us per record: {cpu * per:.2f} in the workers ({thread * per:.2f} in the restoring threads, "
          f"{(cpu - thread) * per:.2f} in librdkafka's and RocksDB's threads)"
          + (f", {broker_cpu * per:.2f} in the broker" if broker_pid is not None else ""))
    if busy > 0:
        print("machine: " + machine_report(elapsed, busy, stolen, cpu + broker_cpu))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="changelog records (default 1,000,000)")
    parser.add_argument("--keys", type=int, default=100_000, help="distinct keys (default 100,000)")
    parser.add_argument("--partitions", type=int, default=4, help="changelog partitions (default 4)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes restoring side by side, each its share of the partitions (default 1)")
    parser.add_argument("--bootstrap-servers", help="use this Kafka instead of starting the embedded broker")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= args.partitions:
        parser.error(f"--workers must be between 1 and --partitions ({args.partitions})")
    broker = None if args.bootstrap_servers else EmbeddedBroker().start()
    bootstrap = args.bootstrap_servers or broker.bootstrap_servers  # type: ignore[union-attr]
    state_dir = Path(tempfile.mkdtemp(prefix="streamproc-restore-bench-"))
    try:
        topic = f"bench-{uuid.uuid4().hex[:8]}-counts-changelog"
        started = time.perf_counter()
        last = load(bootstrap, topic, args.records, args.keys, args.partitions)
        print(f"loaded {args.records:,} changelog records ({len(last):,} keys, {args.partitions} partitions) in "
              f"{time.perf_counter() - started:.1f}s", flush=True)
        broker_process = getattr(broker, "_process", None)
        restore(bootstrap, topic, state_dir, args.records, args.partitions, args.workers,
                broker_process.pid if broker_process is not None else None)
        stores = [store_at(state_dir, topic, p) for p in range(args.partitions)]
        wrong = sum(1 for i, (key, value) in enumerate(last.items())
                    if stores[i % args.partitions].backend.get(key) != value)
        for store in stores:
            store.close()
        print(f"check: {len(last) - wrong:,} of {len(last):,} keys hold their last value")
        return 0 if wrong == 0 else 1
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())


