"""Runtime metrics, recorded per batch and per checkpoint (never per message) in a prometheus registry.

The runtime calls these hooks; serving them over HTTP is the CLI's business. Each worker has its
own registry so that tests and several workers in one process never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RuntimeMetrics:
    def __init__(self, topology: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = ["topology"]
        self._consumed = Counter("streamproc_messages_consumed", "Input messages handled", labels,
                                 registry=self.registry).labels(topology)
        self._failed = Counter("streamproc_messages_failed", "Messages a component could not handle, by policy",
                               [*labels, "policy"], registry=self.registry)
        self._batch = Histogram("streamproc_batch_seconds", "Time to handle one consumed batch", labels,
                                registry=self.registry).labels(topology)
        self._checkpoints = Counter("streamproc_checkpoints", "Checkpoints, by result", [*labels, "result"],
                                    registry=self.registry)
        self._checkpoint_seconds = Histogram("streamproc_checkpoint_seconds", "Checkpoint duration", labels,
                                             registry=self.registry).labels(topology)
        self._restored = Counter("streamproc_restored_records", "Changelog records applied while restoring",
                                 labels, registry=self.registry).labels(topology)
        self._rebalances = Counter("streamproc_rebalances", "Partition assignments and revocations",
                                   [*labels, "kind"], registry=self.registry)
        self._duplicates = Counter("streamproc_replayed_records_skipped",
                                   "Internal-topic records an upstream replay wrote twice, skipped by dedupe", labels,
                                   registry=self.registry).labels(topology)
        self._tasks = Gauge("streamproc_tasks", "Tasks owned by this worker", labels,
                            registry=self.registry).labels(topology)
        self._topology = topology

    def batch(self, messages: int, seconds: float) -> None:
        self._consumed.inc(messages)
        self._batch.observe(seconds)

    def failed(self, policy: str, count: int = 1) -> None:
        self._failed.labels(self._topology, policy).inc(count)

    def checkpoint(self, ok: bool, seconds: float) -> None:
        self._checkpoints.labels(self._topology, "ok" if ok else "failed").inc()
        if ok:
            self._checkpoint_seconds.observe(seconds)

    def duplicates(self, records: int) -> None:
        if records:
            self._duplicates.inc(records)

    def restored(self, records: int) -> None:
        self._restored.inc(records)

    def rebalance(self, kind: str, tasks: int) -> None:
        self._rebalances.labels(self._topology, kind).inc()
        self._tasks.set(tasks)
