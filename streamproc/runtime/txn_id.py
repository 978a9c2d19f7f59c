"""Transactional ids for exactly-once: stable across restarts of a worker, never shared by two live ones.

An id is ``<group>-<instance>-<slot>``. ``instance`` is a random name kept in the state directory,
so hosts, which have their own state directories, never share an id (worker numbers alone would
collide when every host runs the same command, and equal ids fence each other without end).
``slot`` is the lowest number whose lock file no live process of this state directory holds; the
lock (flock) goes when its process dies, however it dies, so a restarted worker takes over the slot
of a dead one, and two commands sharing a state directory still get distinct ids.

Taking over a dead worker's id matters: ``init_transactions`` with it aborts at once the transaction
the dead worker left open. Under a fresh id that transaction would hold back every read_committed
reader of the partitions it wrote to (outputs, internal topics, changelogs) until the broker's
``transaction.timeout.ms`` expires, and on a broker that never expires transactions (the embedded
Tansu), for good. Kafka Streams keeps its process id in the state directory for the same reason.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import uuid
from pathlib import Path
from urllib.parse import quote

from streamproc.errors import StateError
from streamproc.names import LEASE_DIR
from streamproc.state.rocksdb import private_dirs


class TransactionalIdLease:
    """Holds one slot's lock for as long as this process uses its transactional id."""

    def __init__(self, transactional_id: str, fd: int) -> None:
        self.transactional_id = transactional_id
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_dir: Path, group_id: str) -> TransactionalIdLease:
        root = state_dir / LEASE_DIR  # per state dir; the lock files are named by group
        private_dirs(root, state_dir)
        instance = _instance(root)
        prefix = quote(group_id, safe="")
        for slot in itertools.count():
            try:
                fd = os.open(root / f"{prefix}.{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StateError(f"cannot create a transactional id lock in {root}: {exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # a live worker holds this slot
                continue
            return cls(f"{group_id}-{instance}-{slot}", fd)
        raise AssertionError("unreachable")  # pragma: no cover

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the lock
            self._fd = None


def _instance(root: Path) -> str:
    """This state directory's random name, created once (atomically: concurrent workers agree on it)."""
    path = root / "instance"
    if not path.exists():
        draft = root / f"instance.{uuid.uuid4().hex}"
        draft.write_text(uuid.uuid4().hex[:12] + "\n")
        try:
            os.link(draft, path)  # fails if another process created it first: theirs is kept
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    name = path.read_text().strip()
    if not name:
        raise StateError(f"{path} is empty; delete it to get a new transactional id instance name")
    return name
