"""Every name a run derives: internal topics, changelogs, dead letters and local state paths.

All of them come from one *application id*, the consumer group id (which defaults to the topology
name), as Kafka Streams prefixes its internal topics with ``application.id``. Two groups running
one topology are two applications: each has its own changelogs, repartition topics, dead letters
and local stores, so neither can restore the other's state or discard the other's files. Under
the default group the names are the topology's, as they always were.

This module is the only place such a name is spelled out; everything else asks a ``Names``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from streamproc.errors import ConfigError

#: Characters Kafka allows in a topic name, which are also safe as one path component.
_LEGAL = re.compile(r"^[A-Za-z0-9._-]+$")
#: Kafka's limit on a topic name.
MAX_TOPIC_LENGTH = 249
#: Room kept for the longest suffix a derived topic gets (``-<store>-changelog`` etc.).
_APP_MAX = 180
#: Transactional-id lock files live beside the stores, under a name no group id can take.
LEASE_DIR = ".transactional-ids"

InternalKind = Literal["repartition", "global"]


def check_app_id(app: str, what: str = "group id") -> str:
    """``app`` if it can prefix topic names and name a directory, else a ConfigError saying why."""
    if not isinstance(app, str) or not _LEGAL.match(app) or set(app) == {"."} or app == LEASE_DIR:
        raise ConfigError(
            f"{what} {app!r} cannot name the run's internal topics and state directory: use letters, digits, "
            "'.', '_' and '-' (not only dots)"
        )
    if len(app) > _APP_MAX:
        raise ConfigError(f"{what} {app[:40]!r}... is {len(app)} characters; at most {_APP_MAX}, because it "
                          f"prefixes topic names (Kafka allows {MAX_TOPIC_LENGTH})")
    return app


@dataclass(frozen=True, slots=True)
class Names:
    """The names of one application (one consumer group) of a topology."""

    app: str

    def __post_init__(self) -> None:
        check_app_id(self.app)

    def changelog(self, store: str) -> str:
        return f"{self.app}-{store}-changelog"

    def internal(self, bolt: str, kind: InternalKind) -> str:
        """The repartition or global topic that feeds ``bolt``."""
        return f"{self.app}-{bolt}-{kind}"

    def dlq(self) -> str:
        return f"{self.app}-dlq"

    def dlq_ledger(self) -> str:
        """Compacted topic naming each re-driven dead letter (``streamproc dlq replay``)."""
        return f"{self.app}-dlq-redriven"

    def restore_group(self) -> str:
        """The group id the restore consumers run under: they never join or commit it (assign-only), but a
        broker's ACLs see it, so it is named, and granted, like the application's other names."""
        return f"{self.app}-restore"

    def dlq_group(self) -> str:
        """Consumer group holding ``dlq replay``'s progress over the dead-letter topic."""
        return f"{self.app}-dlq"

    def state_root(self, state_dir: Path) -> Path:
        """This application's directory under ``--state-dir``."""
        return state_dir / self.app

    def store_root(self, state_dir: Path, store: str) -> Path:
        return state_dir / self.app / store

    def store_path(self, state_dir: Path, store: str, partition: int) -> Path:
        """Where one partition of a store lives locally."""
        return state_dir / self.app / store / str(partition)

    def lease_dir(self, state_dir: Path) -> Path:
        """Transactional-id locks (shared by every group using ``state_dir``; the lock files carry the group)."""
        return state_dir / LEASE_DIR
