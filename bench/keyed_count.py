"""Keyed-count benchmark: N keyed JSON messages in, one updated count per message out, one process.

Loads ``--messages`` records (``--keys`` distinct keys, ``{"id": i, "amount": 3}`` values) into
an input topic of ``--partitions`` partitions, then runs ``in -> count (keyed store) -> out`` in
one in-process worker and reports messages/second and CPU per message. Loading is not timed.

Timing, all taken inside the worker's thread through its metrics hooks:
  join        ``run()`` start -> first partition assignment (group protocol; broker-bound)
  start       assignment -> first batch handled (store restore, task activation)
  processing  assignment -> every input handled by the bolts
  committed   assignment -> the checkpoint that commits every input (outputs acknowledged)
Headline throughput is N / committed; CPU is this process's rusage (all librdkafka threads
included) over the same interval. The broker is another process; its CPU is shown apart.

Correctness: the output is read back and, for every key, its counts must be exactly 1, 2, ..., n
where n is the number of inputs with that key, and the committed offsets must equal the input's
end offsets.

    python bench/keyed_count.py                     # 1,000,000 messages on an embedded broker
    python bench/keyed_count.py --messages 100000   # smoke run
    python bench/keyed_count.py --profile           # cProfile of the worker thread
    python bench/keyed_count.py --guarantee exactly-once --commit-interval 0.5   # transactions' cost

The harness (``Workload``, ``run``, ``main``) is shared: bench/windows.py runs windowed topologies through it.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import orjson
from clocks import cpu_seconds, machine_report, machine_seconds, process_cpu_seconds
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin does not re-export it for mypy

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.devbroker import EmbeddedBroker
from streamproc.metrics import RuntimeMetrics
from streamproc.plan import Plan
from streamproc.runtime.settings import GUARANTEES, WorkerSettings
from streamproc.runtime.worker import Worker

#: Client settings for the benchmark's own clients and the worker (fast group join on Tansu).
FAST_GROUP = {"session.timeout.ms": "2000", "heartbeat.interval.ms": "500", "fetch.wait.max.ms": "10"}


class Count(Bolt):
    stores: ClassVar[list[Store]] = [Store("counts")]

    def process(self, tup: Tuple) -> None:
        st = self.state("counts")
        n = st.get(0) + 1
        st.set(n)
        self.emit({"key": tup.key, "count": n}, key=tup.key)


def build_plan(name: str, source: str, sink: str) -> Plan:
    t = Topology(name)
    t.spout("in", KafkaSpout(source, key_serde=StrSerde(), value_serde=JsonSerde()))
    t.bolt("count", Count).shuffle("in")  # the input is keyed already: no repartition
    t.bolt("out", KafkaSink(sink, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("count")
    return t.build()


@dataclass(frozen=True)
class Instant:
    """Clocks read at one moment of the run."""

    time: float
    cpu: float  # this process, all threads
    thread_cpu: float  # the worker's thread (the hooks that take instants run in it)
    broker_cpu: float  # the embedded broker (0 with --bootstrap-servers)
    machine_busy: float
    machine_stolen: float

    @classmethod
    def now(cls, broker_pid: int | None) -> Instant:
        busy, stolen = machine_seconds()
        return cls(time.monotonic(), cpu_seconds(), time.thread_time(), process_cpu_seconds(broker_pid), busy, stolen)


class BenchMetrics(RuntimeMetrics):
    """Records the benchmark's instants from the worker's own hooks (called in the worker thread)."""

    def __init__(self, topology: str, target: int, broker_pid: int | None) -> None:
        super().__init__(topology)
        self.target = target
        self.broker_pid = broker_pid
        self.worker: Worker | None = None
        self.consumed = 0
        self.batches = 0
        self.batch_seconds = 0.0
        self.checkpoints = 0
        self.checkpoint_seconds = 0.0
        self.assigned: Instant | None = None
        self.first_batch: float | None = None
        self.processed: Instant | None = None
        self.committed: Instant | None = None
        self.on_assigned: Callable[[], None] | None = None
        self.on_processed: Callable[[], None] | None = None

    def rebalance(self, kind: str, tasks: int) -> None:
        super().rebalance(kind, tasks)
        if kind == "assign" and self.assigned is None:
            self.assigned = Instant.now(self.broker_pid)
            if self.on_assigned is not None:
                self.on_assigned()

    def batch(self, messages: int, seconds: float) -> None:
        super().batch(messages, seconds)
        if self.first_batch is None:
            self.first_batch = time.monotonic() - seconds
        self.consumed += messages
        self.batches += 1
        self.batch_seconds += seconds
        if self.processed is None and self.consumed >= self.target:
            self.processed = Instant.now(self.broker_pid)
            if self.on_processed is not None:
                self.on_processed()
            assert self.worker is not None
            self.worker.request_stop()  # the loop ends after this batch with a final checkpoint

    def checkpoint(self, ok: bool, seconds: float, reason: str = "interval") -> None:
        super().checkpoint(ok, seconds, reason)
        if not ok:
            return
        self.checkpoints += 1
        self.checkpoint_seconds += seconds
        if self.processed is not None and self.committed is None:
            self.committed = Instant.now(self.broker_pid)


# --- setup --------------------------------------------------------------------------------------
def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
    futures = admin.create_topics(topics)
    for future in futures.values():
        future.result(30)


def load(bootstrap: str, topic: str, messages: int, keys: int) -> dict[int, int]:
    """Produce the input; returns the record count per partition (from delivery reports)."""
    per_partition: dict[int, int] = {}
    errors: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            p = msg.partition()
            per_partition[p] = per_partition.get(p, 0) + 1

    dumps = orjson.dumps
    key_bytes = [f"key-{k}".encode() for k in range(keys)]
    produce_all(bootstrap, topic, ((key_bytes[i % keys], dumps({"id": i, "amount": 3}), -1, 0)
                                   for i in range(messages)), delivered, errors)
    return per_partition


def produce_all(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes, int, int]],
                delivered: Callable[[Any, Any], None], errors: list[str]) -> None:
    """Produce ``(key, value, partition or -1, timestamp or 0)`` records as fast as the client takes them (waiting
    out a full queue), then flush; SystemExit if any was not acknowledged or ``delivered`` recorded ``errors``."""
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "batch.num.messages": 100_000,
        "queue.buffering.max.messages": 1_000_000,
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "on_delivery": delivered,
    })
    produce = producer.produce
    for i, (key, value, partition, timestamp) in enumerate(records):
        while True:
            try:
                produce(topic, value, key, partition, timestamp=timestamp)
                break
            except BufferError:
                producer.poll(0.05)
        if i & 0x3FFF == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    if remaining or errors:
        raise SystemExit(f"loading failed: {remaining} unacknowledged, {len(errors)} errors {errors[:1]}")


# --- verification -------------------------------------------------------------------------------
def consume_all(bootstrap: str, topic: str, partitions: int, expected_total: int,
                handle: Callable[[Any], None]) -> int:
    """Read the whole of ``topic``, calling ``handle(message)`` on each record; returns the record count."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-verify-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        **FAST_GROUP,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    records = 0
    at_eof: set[int] = set()
    deadline = time.monotonic() + 120 + expected_total / 20_000
    try:
        while len(at_eof) < partitions and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 1.0):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_eof.add(msg.partition() or 0)
                        continue
                    raise SystemExit(f"reading the output failed: {err}")
                at_eof.discard(msg.partition() or 0)
                records += 1
                handle(msg)
    finally:
        consumer.close()
    return records


def read_outputs(bootstrap: str, topic: str, partitions: int, expected_total: int
                 ) -> tuple[int, dict[str, int], int]:
    """Read the whole output topic: (records, last count per key, out-of-sequence counts)."""
    last: dict[str, int] = {}
    out_of_sequence = 0
    loads = orjson.loads

    def handle(msg: Any) -> None:
        nonlocal out_of_sequence
        value = loads(msg.value() or b"null")
        key = (msg.key() or b"").decode()
        count = value["count"]
        if value["key"] != key or count != last.get(key, 0) + 1:
            out_of_sequence += 1
        last[key] = count

    records = consume_all(bootstrap, topic, partitions, expected_total, handle)
    return records, last, out_of_sequence


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found}


# --- the run ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """What a benchmark runs through the harness: its topology, how its input is loaded, how its output is checked.

    ``build(name, source, sink)`` makes the plan; ``load(bootstrap, source)`` produces ``--messages`` records and
    returns the count per partition; ``verify(bootstrap, sink)`` reads the output and returns (ok, what it found).
    """

    label: str
    build: Callable[[str, str, str], Plan]
    load: Callable[[str, str], dict[int, int]]
    verify: Callable[[str, str], tuple[bool, str]]


def keyed_count(args: argparse.Namespace) -> Workload:
    """The keyed count: one output per input, each key's counts exactly 1..n."""
    n, keys, partitions = args.messages, args.keys, args.partitions

    def verify(bootstrap: str, sink: str) -> tuple[bool, str]:
        records, last, out_of_sequence = read_outputs(bootstrap, sink, partitions, n)
        expected = {f"key-{k}": n // keys + (1 if k < n % keys else 0) for k in range(min(keys, n))}
        wrong_keys = sum(1 for k, c in expected.items() if last.get(k) != c) + len(set(last) - set(expected))
        ok = records == n and wrong_keys == 0 and out_of_sequence == 0
        return ok, (f"{records:,} outputs for {n:,} inputs, {len(last):,} keys, {wrong_keys} keys with a wrong "
                    f"final count, {out_of_sequence} counts out of sequence")

    return Workload("count", build_plan, lambda bootstrap, source: load(bootstrap, source, n, keys), verify)


def make_parser(description: str | None = __doc__) -> argparse.ArgumentParser:
    """The harness's options; a benchmark built on it may add its own."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000, help="input records (default 1,000,000)")
    parser.add_argument("--keys", type=int, default=10_000, help="distinct keys (default 10,000)")
    parser.add_argument("--partitions", type=int, default=4, help="input partitions (default 4)")
    parser.add_argument("--bootstrap-servers", help="use this Kafka instead of starting the embedded broker")
    parser.add_argument("--batch-size", type=int, default=WorkerSettings.batch_size,
                        help="messages per consume() (WorkerSettings.batch_size)")
    parser.add_argument("--commit-interval", type=float, default=5.0, help="checkpoint interval in seconds")
    parser.add_argument("--guarantee", choices=GUARANTEES, default="at-least-once",
                        help="exactly-once commits each checkpoint as a transaction")
    parser.add_argument("-X", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="librdkafka setting for the worker's clients (repeatable)")
    parser.add_argument("--profile", nargs="?", const="", metavar="FILE",
                        help="cProfile the worker thread; print the top functions (and save to FILE)")
    parser.add_argument("--profile-top", type=int, default=30, help="functions shown with --profile")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds of processing")
    parser.add_argument("--keep-state", action="store_true", help="keep the state directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the worker's INFO lines")
    return parser


def parse_args(argv: list[str] | None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    parser = parser if parser is not None else make_parser()
    args = parser.parse_args(argv)
    if args.messages < 1 or args.keys < 1 or args.partitions < 1:
        parser.error("--messages, --keys and --partitions must be positive")
    return args


def run(args: argparse.Namespace, bootstrap: str, broker_pid: int | None, workload: Workload) -> bool:
    uid = uuid.uuid4().hex[:8]
    name, source, sink = f"bench-{workload.label}-{uid}", f"bench-in-{uid}", f"bench-out-{uid}"
    n, keys, partitions = args.messages, args.keys, args.partitions

    create_topics(bootstrap, [source, sink], partitions)
    started = time.monotonic()
    per_partition = workload.load(bootstrap, source)
    load_seconds = time.monotonic() - started
    print(f"loaded {n:,} messages ({keys:,} keys, {partitions} partitions) in {load_seconds:.1f}s "
          f"({n / load_seconds:,.0f} msg/s)", flush=True)

    plan = workload.build(name, source, sink)
    overrides = dict(FAST_GROUP)
    for pair in args.overrides:
        k, _, v = pair.partition("=")
        overrides[k.strip()] = v.strip()
    state_dir = Path(tempfile.mkdtemp(prefix="bench-state-"))
    settings = WorkerSettings(bootstrap_servers=bootstrap, group_id=plan.name, state_dir=state_dir,
                              commit_interval=args.commit_interval, overrides=overrides,
                              batch_size=args.batch_size, guarantee=args.guarantee)
    metrics = BenchMetrics(plan.name, n, broker_pid)
    worker = Worker(plan, settings, metrics)
    metrics.worker = worker

    profiler = cProfile.Profile() if args.profile is not None else None
    if profiler is not None:
        metrics.on_assigned = profiler.enable  # profile processing only, not the group join
        metrics.on_processed = profiler.disable
    timer: threading.Timer | None = None
    if args.timeout:
        timer = threading.Timer(args.timeout, worker.request_stop)
        timer.daemon = True
        timer.start()
    run_started = time.monotonic()
    try:
        worker.run()
    finally:
        if profiler is not None:
            profiler.disable()
        if timer is not None:
            timer.cancel()
        if not args.keep_state:
            shutil.rmtree(state_dir, ignore_errors=True)
    stopped = time.monotonic()

    start, processed, done = metrics.assigned, metrics.processed, metrics.committed
    if start is None or processed is None or done is None:
        print(f"FAIL: the worker stopped after {metrics.consumed:,} of {n:,} messages "
              f"(assigned={start is not None}, committed={done is not None})")
        return False
    first = metrics.first_batch if metrics.first_batch is not None else start.time
    elapsed = done.time - start.time
    cpu = done.cpu - start.cpu
    broker_cpu = done.broker_cpu - start.broker_cpu
    print()
    print(f"group join (run() -> assignment)   {start.time - run_started:8.2f} s")
    print(f"start (assignment -> first batch)   {first - start.time:8.2f} s")
    print(f"processing (first -> last batch)    {processed.time - first:8.2f} s   "
          f"{n / (processed.time - first):>10,.0f} msg/s")
    print(f"final checkpoint                    {done.time - processed.time:8.2f} s")
    print(f"shutdown (commit -> run() returns)  {stopped - done.time:8.2f} s")
    print(f"batches {metrics.batches:,} (avg {metrics.consumed / max(metrics.batches, 1):,.0f} msgs), "
          f"time inside batches {metrics.batch_seconds:.2f} s, {args.guarantee} "
          f"checkpoints {metrics.checkpoints} taking {metrics.checkpoint_seconds:.2f} s "
          f"({metrics.checkpoint_seconds / max(metrics.checkpoints, 1) * 1000:.0f} ms each)")
    print()
    print(f"THROUGHPUT  {n / elapsed:>10,.0f} msg/s   "
          f"({n:,} messages, assignment -> all committed in {elapsed:.2f} s)")
    print(f"CPU         {cpu:10.2f} s       {cpu / n * 1e6:8.2f} CPU-us/msg   "
          f"(processing only: {(processed.cpu - start.cpu) / n * 1e6:.2f} CPU-us/msg)")
    thread_cpu = done.thread_cpu - start.thread_cpu
    print(f"  of which {thread_cpu / n * 1e6:.2f} CPU-us/msg in the worker's (Python) thread, "
          f"{(cpu - thread_cpu) / n * 1e6:.2f} in librdkafka's threads")
    if broker_pid is not None:
        print(f"broker CPU  {broker_cpu:10.2f} s       {broker_cpu / n * 1e6:8.2f} CPU-us/msg   (a separate process)")
    if done.machine_busy > 0:
        print("machine     " + machine_report(elapsed, done.machine_busy - start.machine_busy,
                                              done.machine_stolen - start.machine_stolen, cpu + broker_cpu))

    outputs_ok, found = workload.verify(bootstrap, sink)
    committed = committed_offsets(bootstrap, plan.name, source, partitions)
    ends = {p: per_partition.get(p, 0) for p in range(partitions)}
    ok = outputs_ok and committed == ends
    print(f"\ncorrectness {'OK' if ok else 'FAIL'}: {found}, committed offsets "
          f"{'= input end offsets' if committed == ends else f'{committed} != {ends}'}")

    if profiler is not None:
        print(f"\ncProfile of the worker thread, assignment -> last batch "
              f"(top {args.profile_top} by own time):")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.profile_top)
        if args.profile:
            stats.dump_stats(args.profile)
            print(f"profile saved to {args.profile}")
    return ok


def main(argv: list[str] | None = None, make_workload: Callable[[argparse.Namespace], Workload] = keyed_count,
         parser: argparse.ArgumentParser | None = None) -> int:
    """Parse the options, start the embedded broker unless given one, run the workload once; 0 if its output
    was right."""
    args = parse_args(argv, parser)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workload = make_workload(args)
    if args.bootstrap_servers:
        return 0 if run(args, args.bootstrap_servers, None, workload) else 1
    broker = EmbeddedBroker().start()
    try:
        process = getattr(broker, "_process", None)
        return 0 if run(args, broker.bootstrap_servers, process.pid if process is not None else None, workload) else 1
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
