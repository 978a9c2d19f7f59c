"""Truncating a topology's state for a replay, like Kafka Streams' application reset tool.

State is kept in three places, and a replay that starts over must empty all of them or the old
state is applied again on top of the reprocessed inputs: the changelog topics (the durable copy),
the repartition topics (inputs in flight between sub-topologies) and local RocksDB directories.
Topics are deleted and recreated with the same partitions, replication and topic-level settings.

Local directories exist on every host that ran a worker; this removes the one on this host. Those
elsewhere are discarded by their workers on start: their offsets are then beyond the recreated
changelog's end or ahead of the rewound committed offsets (see state/recovery.py).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType  # type: ignore[attr-defined]  # public, untyped export
from confluent_kafka.cimpl import NewTopic

from streamproc.errors import ConfigError
from streamproc.kafka import admin as kadmin
from streamproc.kafka.admin import TopicSpec
from streamproc.kafka.topics import required_topics
from streamproc.plan import Plan
from streamproc.wording import counted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StateReset:
    topics: list[TopicSpec]  # changelog and repartition topics as they will be recreated
    replication: dict[str, int]
    local_dir: Path
    #: Group offsets of the recreated internal topics: their start.
    internal_offsets: dict[tuple[str, int], int]


def plan_state_reset(admin: AdminClient, plan: Plan, state_dir: Path) -> StateReset:
    existing = kadmin.partition_counts(admin)
    counts = plan.resolve_partitions(existing)
    specs = required_topics(plan, counts, with_dlq=False)
    overrides = _topic_overrides(admin, [s.name for s in specs if s.name in existing])
    recreated = [TopicSpec(s.name, s.partitions, {**overrides.get(s.name, {}), **s.config}, s.purpose) for s in specs]
    metadata = admin.list_topics(timeout=15).topics
    replication = {
        s.name: len(next(iter(metadata[s.name].partitions.values())).replicas)
        for s in specs if s.name in metadata and metadata[s.name].partitions
    }
    internal = {(name, p): 0 for name in plan.internal_topics for p in range(counts[name])}
    return StateReset(recreated, replication, plan.names.state_root(state_dir), internal)


def _topic_overrides(admin: AdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """Settings made on each topic itself (not broker defaults), to carry over to its replacement."""
    if not names:
        return {}
    found: dict[str, dict[str, str]] = {}
    for resource, future in admin.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in names]).items():
        entries = future.result(timeout=15)
        found[resource.name] = {
            key: entry.value for key, entry in entries.items()
            if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and entry.value is not None
        }
    return found


def reset_state(admin: AdminClient, reset: StateReset, step: Callable[[str], None], timeout: float = 60.0) -> None:
    """Delete and recreate the topics, then remove this host's state directory; ``step`` reports progress."""
    present = set(kadmin.partition_counts(admin))
    doomed = [s.name for s in reset.topics if s.name in present]
    if doomed:
        for name, future in admin.delete_topics(doomed, operation_timeout=timeout).items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise ConfigError(f"cannot delete topic {name!r}: {exc.args[0].str()}") from exc
            step(f"deleted {name}")
        _await_gone(admin, doomed, timeout)
    for spec in reset.topics:
        _create(admin, spec, reset.replication.get(spec.name, -1), timeout)
        step(f"created {spec.name} ({counted(spec.partitions, 'partition')})")
    if reset.local_dir.exists():
        shutil.rmtree(reset.local_dir)
        step(f"removed local state {reset.local_dir}")


def _await_gone(admin: AdminClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while set(names) & set(kadmin.partition_counts(admin)):
        if time.monotonic() > deadline:
            raise ConfigError(f"topics {names} were deleted but still exist after {timeout:.0f}s")
        time.sleep(0.2)


def _create(admin: AdminClient, spec: TopicSpec, replication: int, timeout: float) -> None:
    """Create, retrying while Kafka still finishes deleting the old topic of the same name."""
    deadline = time.monotonic() + timeout
    while True:
        future = admin.create_topics([NewTopic(spec.name, spec.partitions, replication, config=dict(spec.config))],
                                     operation_timeout=timeout)[spec.name]
        try:
            future.result()
            break
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS or time.monotonic() > deadline:
                raise ConfigError(f"cannot recreate topic {spec.name!r}: {exc.args[0].str()}") from exc
            time.sleep(0.5)
    kadmin.ensure_topics(admin, [spec])  # waits until it is visible; checks the partition count
