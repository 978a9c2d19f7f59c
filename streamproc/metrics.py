"""A worker's metrics, in its own prometheus registry (serving them is streamproc.monitoring's business).

Nothing here runs per message. The two counts the hot path has to keep (records read per topic,
tuples emitted per component) are plain ints in ``Tally`` objects that the runtime increments
without locks; a collector reads them when /metrics is scraped (reading an int is atomic under the
GIL). Values that cost a call to compute (lag, state size, restore progress) are computed by the
worker's own thread at its checkpoint tick and published as dicts that the collector reads; every
publication replaces the dict, so the scrape thread never sees one half-written. The rest are
ordinary prometheus metrics, updated per batch, per checkpoint, per rebalance or per failed message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from streamproc.errors import ProcessingError
from streamproc.state.position import TP

#: Seconds from a record's timestamp to the end of the batch that handled it: from "real time" to a
#: backlog being replayed hours later.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)



class Tally:
    """A count the hot path increments in place; read at scrape time."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


#: Late records per windowed component, shared by every task of the process (streamproc.windows): a task is
#: created where the metrics object is not at hand, and the count must outlive the task for a counter.
_LATE: dict[str, Tally] = {}


def late_tally(component: str) -> Tally:
    """The count of records ``component`` (a WindowedBolt) sent to its ``late`` stream, in this process."""
    tally = _LATE.get(component)
    if tally is None:
        tally = _LATE[component] = Tally()
    return tally


class RuntimeMetrics:
    def __init__(self, topology: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._topology = topology
        r = self.registry
        labels = ["topology"]
        self._failed = Counter("streamproc_messages_failed", "Messages a component could not handle, by policy",
                               [*labels, "policy"], registry=r)
        self._dlq = Counter("streamproc_dlq_messages", "Messages sent to the dead-letter topic, by failing component",
                            [*labels, "component"], registry=r)
        self._errors = Counter("streamproc_errors", "Errors by component (or consumer/checkpoint) and exception type",
                               [*labels, "component", "type"], registry=r)
        self._batch = Histogram("streamproc_batch_seconds", "Time to handle one consumed batch", labels,
                                registry=r).labels(topology)
        self._latency = Histogram("streamproc_end_to_end_latency_seconds",
                                  "From a record's timestamp to the end of the batch that handled it (one sample per "
                                  "batch: its last record), by the component that read it", [*labels, "component"],
                                  buckets=LATENCY_BUCKETS, registry=r)
        self._checkpoints = Counter("streamproc_checkpoints",
                                    "Checkpoints, by result and reason (interval; write-cache: the write cache reached "
                                    "--max-cache-entries; rebalance; stop)", [*labels, "result", "reason"],
                                    registry=r)
        self._expired = Counter("streamproc_expired_keys", "Entries of TTL stores expired and deleted (tombstoned)",
                                [*labels, "component", "store"], registry=r)
        self._checkpoint_seconds = Histogram("streamproc_checkpoint_seconds", "Checkpoint duration", labels,
                                             registry=r).labels(topology)
        self._commit_failures = Counter("streamproc_commit_failures", "Offset commits the broker refused", labels,
                                        registry=r).labels(topology)
        self._restored = Counter("streamproc_restored_records", "Changelog records applied while restoring",
                                 [*labels, "store"], registry=r)
        self._rebalances = Counter("streamproc_rebalances", "Partition assignments, revocations and losses",
                                   [*labels, "kind"], registry=r)
        self._duplicates = Counter("streamproc_replayed_records_skipped",
                                   "Internal-topic records an upstream replay wrote twice, skipped by dedupe", labels,
                                   registry=r).labels(topology)
        self._redriven_skipped = Counter(
            "streamproc_redriven_copies_skipped", "Re-driven dead letters skipped because their original was "
            "processed, not dead-lettered, in the current state", labels, registry=r).labels(topology)
        self._future = Counter("streamproc_future_timestamps",
                               "Records refused because their event time was further ahead of the wall clock than "
                               "--max-future-skew allows", labels, registry=r).labels(topology)
        self._tasks = Gauge("streamproc_tasks", "Tasks owned by this worker", labels, registry=r).labels(topology)
        self._ready = Gauge("streamproc_ready", "1 when every assigned partition is restored and processing",
                            labels, registry=r).labels(topology)
        self._consumed: dict[str, tuple[str, Tally]] = {}
        self._emitted: dict[str, Tally] = {}
        self._lag: Mapping[TP, int] = {}
        self._state: Mapping[str, tuple[int, int]] = {}
        self._restoring: Mapping[str, tuple[int, int]] = {}
        self._stream_lag: Mapping[str, float] = {}
        self._pending_timers: Mapping[tuple[str, str], int] = {}
        self._open_windows: Mapping[tuple[str, int], int] = {}
        r.register(_Published(self))

    # --- hot-path tallies (created once per topic/component, before processing starts) -----------
    def consumed_tally(self, topic: str, component: str) -> Tally:
        """The count of records read from ``topic`` by ``component`` (its spout, or the bolt it feeds)."""
        entry = self._consumed.get(topic)
        if entry is None:
            entry = self._consumed[topic] = (component, Tally())
        return entry[1]

    def emitted_tally(self, component: str) -> Tally:
        """The count of tuples ``component`` emitted, on any stream, shared by all its tasks."""
        tally = self._emitted.get(component)
        if tally is None:
            tally = self._emitted[component] = Tally()
        return tally

    # --- per batch, checkpoint, rebalance --------------------------------------------------------
    def batch(self, messages: int, seconds: float) -> None:
        self._batch.observe(seconds)

    def end_to_end(self, component: str, seconds: float) -> None:
        self._latency.labels(self._topology, component).observe(max(seconds, 0.0))

    def failed(self, policy: str, error: ProcessingError) -> None:
        self._failed.labels(self._topology, policy).inc()
        self._errors.labels(self._topology, error.component, type(error.cause).__name__).inc()
        if policy == "dlq":
            self._dlq.labels(self._topology, error.component).inc()

    def error(self, where: str, kind: str) -> None:
        """An error outside a component: ``where`` is "consumer" or "checkpoint"."""
        self._errors.labels(self._topology, where, kind).inc()

    def checkpoint(self, ok: bool, seconds: float, reason: str = "interval") -> None:
        self._checkpoints.labels(self._topology, "ok" if ok else "failed", reason).inc()
        if ok:
            self._checkpoint_seconds.observe(seconds)

    def expired(self, component: str, store: str, count: int) -> None:
        """``count`` entries of ``store`` (owned by ``component``) were tombstoned on expiry (0 creates the series)."""
        self._expired.labels(self._topology, component, store).inc(count)

    def future_timestamp(self) -> None:
        self._future.inc()

    def commit_failed(self) -> None:
        self._commit_failures.inc()

    def duplicates(self, records: int) -> None:
        if records:
            self._duplicates.inc(records)

    def redriven_skipped(self, records: int) -> None:
        if records:
            self._redriven_skipped.inc(records)

    def restored(self, store: str, records: int) -> None:
        self._restored.labels(self._topology, store).inc(records)

    def rebalance(self, kind: str, tasks: int) -> None:
        self._rebalances.labels(self._topology, kind).inc()
        self._tasks.set(tasks)

    def readiness_from(self, ready: Callable[[], bool]) -> None:
        """Report ``ready()`` (asked at scrape time) as streamproc_ready."""
        self._ready.set_function(lambda: 1.0 if ready() else 0.0)

    # --- published by the worker's thread, read at scrape time -----------------------------------
    def publish_lag(self, lag: Mapping[TP, int]) -> None:
        self._lag = dict(lag)

    def publish_state(self, sizes: Mapping[str, tuple[int, int]]) -> None:
        """``store -> (entries, bytes)``, summed over this worker's partitions of the store (gauges.state_sizes)."""
        self._state = dict(sizes)

    def publish_restoring(self, progress: Mapping[str, tuple[int, int]]) -> None:
        """``store -> (partitions restoring, records remaining)``."""
        self._restoring = dict(progress)

    def publish_stream_time_lag(self, lag: Mapping[str, float]) -> None:
        """``task id -> seconds`` between the wall clock and the task's stream time (gauges.stream_time_lag)."""
        self._stream_lag = dict(lag)

    def publish_pending_timers(self, pending: Mapping[tuple[str, str], int]) -> None:
        """``(task id, component) -> timers`` scheduled and not yet fired (gauges.pending_timers)."""
        self._pending_timers = dict(pending)
    def publish_open_windows(self, counts: Mapping[tuple[str, int], int]) -> None:
        """``(component, partition) -> open windows`` of this worker's windowed tasks (gauges.open_windows)."""
        self._open_windows = dict(counts)


class _Published(Collector):
    """Reads the tallies and the published dicts of one RuntimeMetrics at scrape time."""

    def __init__(self, metrics: RuntimeMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        topology = m._topology
        consumed = CounterMetricFamily("streamproc_messages_consumed",
                                       "Records read from Kafka, by the component that read them and topic",
                                       labels=["topology", "component", "topic"])
        for topic, (component, tally) in list(m._consumed.items()):
            consumed.add_metric([topology, component, topic], tally.count)
        yield consumed
        emitted = CounterMetricFamily("streamproc_messages_emitted", "Tuples emitted, on any stream, by component",
                                      labels=["topology", "component"])
        for component, tally in list(m._emitted.items()):
            emitted.add_metric([topology, component], tally.count)
        yield emitted
        lag = GaugeMetricFamily("streamproc_consumer_lag",
                                "Records between the last processed offset and the high watermark, per input partition",
                                labels=["topology", "topic", "partition"])
        for (topic, partition), value in m._lag.items():
            lag.add_metric([topology, topic, str(partition)], value)
        yield lag
        keys = GaugeMetricFamily("streamproc_state_keys",
                                 "Entries committed in the store's partitions on this worker: a key's own value "
                                 "and each of its sub-keys count one",
                                 labels=["topology", "store"])
        size = GaugeMetricFamily("streamproc_state_bytes",
                                 "Bytes of the store's partitions on this worker (RocksDB: files and memtables; "
                                 "memory: keys and values)",
                                 labels=["topology", "store"])
        for store, (count, nbytes) in m._state.items():
            keys.add_metric([topology, store], count)
            size.add_metric([topology, store], nbytes)
        yield keys
        yield size
        partitions = GaugeMetricFamily("streamproc_restoring_partitions", "Store partitions being restored",
                                       labels=["topology", "store"])
        remaining = GaugeMetricFamily("streamproc_restore_records_remaining",
                                      "Changelog records left to restore", labels=["topology", "store"])
        for store, (restoring, left) in m._restoring.items():
            partitions.add_metric([topology, store], restoring)
            remaining.add_metric([topology, store], left)
        yield partitions
        yield remaining
        stream_lag = GaugeMetricFamily("streamproc_stream_time_lag_seconds",
                                       "Wall clock minus the task's stream time (the highest event time it has seen)",
                                       labels=["topology", "task"])
        for task, seconds in m._stream_lag.items():
            stream_lag.add_metric([topology, task], seconds)
        yield stream_lag
        timers = GaugeMetricFamily("streamproc_pending_timers", "Keyed timers scheduled and not yet fired, per task "
                                   "and bolt (both kinds, committed or not)", labels=["topology", "task", "component"])
        for (task, component), count in m._pending_timers.items():
            timers.add_metric([topology, task, component], count)
        yield timers
        late = CounterMetricFamily("streamproc_late_records",
                                   "Records a windowed bolt sent to its late stream: every window they belong to had "
                                   "closed", labels=["topology", "component"])
        for component, tally in list(_LATE.items()):
            late.add_metric([topology, component], tally.count)
        yield late
        windows = GaugeMetricFamily("streamproc_open_windows", "Windows open (not yet closed) in a windowed bolt's "
                                    "task", labels=["topology", "component", "partition"])
        for (component, partition), count in m._open_windows.items():
            windows.add_metric([topology, component, str(partition)], count)
        yield windows
