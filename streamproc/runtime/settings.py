"""Everything a worker process needs to know, picklable so the supervisor can hand it to a child."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from streamproc.runtime.policy import OnError

Guarantee = Literal["at-least-once", "exactly-once"]
GUARANTEES: tuple[Guarantee, ...] = ("at-least-once", "exactly-once")


@dataclass(frozen=True)
class WorkerSettings:
    bootstrap_servers: str
    group_id: str
    state_dir: Path = Path("state")
    commit_interval: float = 5.0
    on_error: OnError = "fail"
    #: exactly-once: a transactional producer commits outputs, changelogs and offsets together.
    guarantee: Guarantee = "at-least-once"
    #: librdkafka settings from -X, applied to every client. Hidden from repr: they may hold secrets.
    overrides: dict[str, Any] = field(default_factory=dict, repr=False)
    worker_index: int = 0
    #: Upper bound of messages per consume() call.
    batch_size: int = 5000
    connect_timeout: float = 15.0
    replication_factor: int = -1
    #: Create missing input topics with this many partitions (the embedded development broker only).
    create_inputs: int | None = None
    #: The consumer group's partition assignor: "range" (default; co-locates partition p of every input of a
    #: sub-topology) or "cooperative-sticky" (moves only the partitions that must move on a rebalance).
    assignor: str = "range"
    #: The broker's workarounds to use (streamproc.kafka.quirks): "auto" asks the broker which it is.
    broker_quirks: str = "auto"
    #: Warm copies of the stores of this many neighbouring partitions on each side (runtime/standby.py).
    standby_replicas: int = 0
    #: Stop when this process is no longer our parent (the supervisor died).
    parent_pid: int | None = None
    #: How far (seconds) one record may move a task's stream time ahead of the wall clock (runtime/clock.py).
    max_future_skew: float = 86400.0
    #: Idle advance: a task whose inputs delivered nothing for this many seconds moves its stream time with the
    #: wall clock (None: off; runtime/tasktime.py).
    idle_advance: float | None = None
    #: Seconds a graceful stop (final checkpoint, leaving the group) may take before the worker gives up.
    shutdown_timeout: float = 30.0
    #: Static group membership (Kafka's group.instance.id, "ID-<worker index>"): a worker back within the
    #: session timeout gets its partitions again without a rebalance of the others.
    instance_id: str | None = None
    #: Dirty entries the tasks' write caches may hold before the worker checkpoints early (--max-cache-entries).
    max_cache_entries: int = 100_000
