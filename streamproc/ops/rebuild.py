"""Rebuilding local stores from their changelogs, without processing input (``streamproc state rebuild``).

Uses the worker's own restore path (state/recovery.py), so the rebuilt copy is exactly what a
worker would restore: changelog records describing inputs past the group's committed offsets are
skipped. Each store directory is locked while it is rebuilt, so a worker on this host that owns it
makes the rebuild fail fast instead of corrupting it.

The same path reads a memory store, which has no local copy: ``restore_in_memory`` restores its
partitions into memory for ``state get`` and ``state dump``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from confluent_kafka import Consumer

from streamproc.errors import StateError
from streamproc.kafka.reading import committed_offsets, true_watermarks
from streamproc.names import Names
from streamproc.plan import Plan
from streamproc.state.partition import StorePartition, open_partition
from streamproc.state.position import TP
from streamproc.state.recovery import ChangelogRestorer

LOCK_TIMEOUT = 5.0

Progress = Callable[[int | None], Callable[[int], None]]


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
            probe: Consumer, group: Consumer, from_scratch: bool, progress: Progress) -> int:
    """Bring each target's local copy up to its changelog; returns the records read.

    ``progress(total)`` is called once with the records to read and returns ``advance(n)``.
    """
    parts: list[StorePartition] = []
    try:
        for target in targets:
            _, spec = plan.stores[target.store]
            try:
                part = open_partition(spec, state_dir, plan.names, target.partition, lock_timeout=LOCK_TIMEOUT)
                parts.append(part)
                if from_scratch:
                    part.backend.wipe()
            except StateError as exc:
                raise StateError(f"{target.store}[{target.partition}] at {target.path(state_dir, plan.names)} is in "
                                 "use by a worker on this host; stop it first (or let it restore the store itself)"
                                 ) from exc
        return restore(plan, parts, restore_consumer, probe, group, progress)
    finally:
        for part in parts:
            part.close()


def restore_in_memory(plan: Plan, store: str, partitions: Sequence[int], restore_consumer: Consumer,
                      probe: Consumer, group: Consumer, progress: Progress) -> list[StorePartition]:
    """``store``'s partitions as a worker would restore them, held in memory (the caller closes them)."""
    _, spec = plan.stores[store]
    memory = replace(spec, backend="memory")
    parts = [open_partition(memory, Path("."), plan.names, p) for p in partitions]
    try:
        restore(plan, parts, restore_consumer, probe, group, progress)
    except BaseException:
        for part in parts:
            part.close()
        raise
    return parts


def restore(plan: Plan, parts: Sequence[StorePartition], restore_consumer: Consumer, probe: Consumer,
            group: Consumer, progress: Progress) -> int:
    """Restore opened store partitions from their changelogs; returns the records read."""
    restorer = ChangelogRestorer(restore_consumer, true_end=lambda t, p: true_watermarks(probe, t, p)[1])
    total = 0
    for part in parts:
        committed = committed_inputs(plan, group, part.spec.name, part.partition)
        restorer.begin(f"{part.spec.name}[{part.partition}]", part, committed)
        _, end = true_watermarks(probe, part.changelog, part.partition)
        total += max(0, end - (part.backend.position().changelog or 0))
    advance = progress(total)
    read = 0
    while restorer.busy:
        restorer.step(1.0)
        advance(restorer.records_read - read)
        read = restorer.records_read
    return read
