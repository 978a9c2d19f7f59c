"""Everything a worker process needs to know, picklable so the supervisor can hand it to a child."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamproc.runtime.policy import OnError


@dataclass(frozen=True)
class WorkerSettings:
    bootstrap_servers: str
    group_id: str
    state_dir: Path = Path("state")
    commit_interval: float = 5.0
    on_error: OnError = "fail"
    #: librdkafka settings from -X, applied to every client. Hidden from repr: they may hold secrets.
    overrides: dict[str, Any] = field(default_factory=dict, repr=False)
    worker_index: int = 0
    #: Upper bound of messages per consume() call.
    batch_size: int = 5000
    connect_timeout: float = 15.0
    replication_factor: int = -1
    #: Create missing input topics with this many partitions (the embedded development broker only).
    create_inputs: int | None = None
    #: Stop when this process is no longer our parent (the supervisor died).
    parent_pid: int | None = None
    #: Seconds a graceful stop (final checkpoint, leaving the group) may take before the worker gives up.
    shutdown_timeout: float = 30.0
