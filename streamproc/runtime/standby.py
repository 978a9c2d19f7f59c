"""Standby replicas: warm local copies of stores of partitions another worker owns.

A worker that takes over a partition must restore its stores before it processes anything; from
an empty disk that means replaying the whole changelog. A standby copy tails the changelog all
along, so a takeover restores only the last few records.

Which partitions: the ``replicas`` nearest partitions on each side of every partition the worker
owns (wrapping around). The range assignor hands out contiguous ranges, so when a worker leaves,
its partitions go to the workers owning the neighbouring ranges: exactly the ones keeping them warm.

A standby applies every changelog record, committed or not, and records in its metadata the
highest source offsets those records reflect. On takeover the ordinary restore compares them with
the committed offsets: a copy that got ahead of them (its owner crashed between writing the
changelog and committing) is discarded and rebuilt, so standbys never make state inexact.

Only stores with a durable backend get standbys: a memory store's copy could not be handed to the
task that takes its partition over, which restores it from the changelog anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from streamproc.plan import Plan
from streamproc.state.backend import StoreBackend, backend_class, open_backend
from streamproc.state.changelog import decode_sources, source_header
from streamproc.state.position import TP, Position

log = logging.getLogger(__name__)

#: (store, partition)
Replica = tuple[str, int]


def neighbours(owned: Iterable[int], partitions: int, replicas: int) -> set[int]:
    """Partitions within ``replicas`` of an owned one (wrapping around), other than the owned ones."""
    mine = set(owned)
    near = {(p + d) % partitions for p in mine for d in range(-replicas, replicas + 1)}
    return near - mine


class _Copy:
    __slots__ = ("backend", "sources", "store")

    def __init__(self, store: str, backend: StoreBackend) -> None:
        self.store = store
        self.backend = backend
        #: Highest next-offset per input partition reflected by the records applied.
        self.sources: dict[TP, int] = dict(backend.position().sources)


class StandbyKeeper:
    """Tails the changelogs of standby partitions into local stores, without blocking the worker."""

    def __init__(self, plan: Plan, consumer: Consumer, state_dir: Path, replicas: int, batch_size: int = 5000) -> None:
        self._plan = plan
        self._consumer = consumer
        self._state_dir = state_dir
        self._replicas = replicas
        self._batch_size = batch_size
        self._copies: dict[tuple[str, int], _Copy] = {}  # by (changelog topic, partition)
        durable = {name for name, (_, spec) in plan.stores.items() if backend_class(spec).durable}
        self._stores_of_sub = {
            sub.id: [name for name in sub.stores if name in durable] for sub in plan.subtopologies if sub.stores
        }

    @property
    def replicas(self) -> set[Replica]:
        return {(copy.store, p) for (_, p), copy in self._copies.items()}

    def wanted(self, active: Iterable[tuple[int, int]], partitions: dict[str, int]) -> set[Replica]:
        """The standby replicas for the worker's active tasks, given as (sub-topology id, partition)."""
        owned: dict[int, set[int]] = {}
        for sub_id, partition in active:
            owned.setdefault(sub_id, set()).add(partition)
        wanted: set[Replica] = set()
        for sub_id, parts in owned.items():
            for store in self._stores_of_sub.get(sub_id, []):
                count = partitions[self._plan.names.changelog(store)]
                wanted |= {(store, p) for p in neighbours(parts, count, self._replicas)}
        return wanted

    def update(self, wanted: set[Replica]) -> None:
        """Keep exactly ``wanted``: stop tailing the others (closing their stores), start the new ones."""
        self.release(self.replicas - wanted)
        for store, partition in sorted(wanted - self.replicas):
            topic = self._plan.names.changelog(store)
            _, spec = self._plan.stores[store]
            try:
                backend = open_backend(spec, self._state_dir, self._plan.names, partition, lock_timeout=0.0)
            except Exception as exc:  # held by a task of this process being closed, or corrupt: skip it now
                log.info("no standby for %s[%d] now: %s", store, partition, exc)
                continue
            copy = _Copy(store, backend)
            self._copies[(topic, partition)] = copy
            start = backend.position().changelog or 0
            self._consumer.incremental_assign([TopicPartition(topic, partition, start)])
        if wanted:
            log.info("standby replicas: %s", ", ".join(f"{s}[{p}]" for s, p in sorted(self.replicas)))

    def release(self, replicas: Iterable[Replica]) -> None:
        """Stop keeping these (before a task of this worker opens the same store)."""
        topics = [(self._plan.names.changelog(store), p) for store, p in replicas]
        held = [tp for tp in topics if tp in self._copies]
        if not held:
            return
        self._consumer.incremental_unassign([TopicPartition(t, p) for t, p in held])
        for tp in held:
            self._copies.pop(tp).backend.close()

    def step(self) -> int:
        """Apply what has arrived (never waits); returns the records applied."""
        if not self._copies:
            return 0
        messages: list[Any] = self._consumer.consume(self._batch_size, 0)
        if not messages:
            return 0
        batches: dict[tuple[str, int], list[tuple[bytes, bytes | None]]] = {}
        positions: dict[tuple[str, int], int] = {}
        for msg in messages:
            if msg.error() is not None:
                continue  # partition EOF; a real error shows up again in the restore that needs the data
            tp = (msg.topic(), msg.partition())
            copy = self._copies.get(tp)
            if copy is None:
                continue
            batches.setdefault(tp, []).append((msg.key(), msg.value()))
            positions[tp] = msg.offset() + 1
            raw = source_header(msg.headers())
            if raw:
                for source, offset in decode_sources(raw).items():
                    if offset + 1 > copy.sources.get(source, 0):
                        copy.sources[source] = offset + 1
        applied = 0
        for tp, entries in batches.items():
            copy = self._copies[tp]
            copy.backend.write(entries, Position(positions[tp], dict(copy.sources)))
            applied += len(entries)
        return applied

    def close(self) -> None:
        self.release(list(self.replicas))
        self._consumer.close()


