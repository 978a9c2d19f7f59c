"""Rebuilding local stores from their changelogs, without processing input (``streamproc state rebuild``).

Uses the worker's own restore path (state/recovery.py), so the rebuilt copy is exactly what a
worker would restore: changelog records describing inputs past the group's committed offsets are
skipped. Each store directory is locked while it is rebuilt, so a worker on this host that owns it
makes the rebuild fail fast instead of corrupting it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer

from streamproc.errors import StateError
from streamproc.kafka.reading import committed_offsets, true_watermarks
from streamproc.names import Names
from streamproc.plan import Plan
from streamproc.state.changelog import TopicPartition as TP
from streamproc.state.partition import StorePartition
from streamproc.state.recovery import ChangelogRestorer
from streamproc.state.rocksdb import LocalDB, private_dirs

LOCK_TIMEOUT = 5.0


@dataclass(frozen=True)
class RebuildTarget:
    store: str
    partition: int

    def path(self, state_dir: Path, names: Names) -> Path:
        return names.store_path(state_dir, self.store, self.partition)


def committed_inputs(plan: Plan, group: Consumer, store: str, partition: int) -> dict[TP, int]:
    """The group's committed offsets of the inputs of the task that owns ``store[partition]``."""
    bolt, _ = plan.stores[store]
    return committed_offsets(group, [(t, partition) for t in plan.subtopology_of_component(bolt).source_topics])


def rebuild(plan: Plan, targets: Sequence[RebuildTarget], state_dir: Path, restore_consumer: Consumer,
            probe: Consumer, group: Consumer, from_scratch: bool,
            progress: Callable[[int | None], Callable[[int], None]]) -> int:
    """Bring each target's local copy up to its changelog; returns the records read.

    ``progress(total)`` is called once with the records to read and returns ``advance(n)``.
    """
    parts: list[StorePartition] = []
    restorer = ChangelogRestorer(restore_consumer, true_end=lambda t, p: true_watermarks(probe, t, p)[1])
    try:
        total = 0
        for target in targets:
            path = target.path(state_dir, plan.names)
            _, spec = plan.stores[target.store]
            changelog = plan.names.changelog(target.store)
            try:
                if from_scratch and path.exists():
                    LocalDB(path, lock_timeout=LOCK_TIMEOUT).close()  # fails if a worker holds it
                    shutil.rmtree(path)
                private_dirs(path, state_dir)
                part = StorePartition(spec, path, changelog, target.partition, lock_timeout=LOCK_TIMEOUT)
            except StateError as exc:
                raise StateError(f"{target.store}[{target.partition}] at {path} is in use by a worker on this host; "
                                 "stop it first (or let it restore the store itself)") from exc
            parts.append(part)
            committed = committed_inputs(plan, group, target.store, target.partition)
            restorer.begin(f"{target.store}[{target.partition}]", part, committed)
            _, end = true_watermarks(probe, changelog, target.partition)
            total += max(0, end - (part.db.changelog_offset() or 0))
        advance = progress(total)
        read = 0
        while restorer.busy:
            restorer.step(1.0)
            advance(restorer.records_read - read)
            read = restorer.records_read
        return read
    finally:
        for part in parts:
            part.close()

