"""The in-memory store backend (``Store(name, backend="memory")``): a dict, for small hot state.

Reads are dict lookups instead of RocksDB calls, and a checkpoint writes no files. Nothing survives
the process, so the backend is not ``durable``: its partition is restored from the whole changelog
at every assignment, and it is as exact as a RocksDB store because the restore applies the same rule.
Ordered scans use a sorted list of the keys, rebuilt only when a write added or removed a key (at
most once per checkpoint), so a scan costs a binary search plus the entries it yields.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from streamproc.state.backend import Batch, StoreBackend
from streamproc.state.position import Position
from streamproc.state.store import is_reserved


class MemoryBatch:
    """Puts and deletes in order; a None value deletes."""

    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: list[tuple[bytes, bytes | None]] = []

    def put(self, key: bytes, value: bytes) -> None:
        self.ops.append((key, value))

    def delete(self, key: bytes) -> None:
        self.ops.append((key, None))

    def len(self) -> int:
        return len(self.ops)


class MemoryBackend(StoreBackend):
    kind: ClassVar[str] = "memory"
    durable: ClassVar[bool] = False

    def __init__(self, label: str) -> None:
        #: Names the partition in messages (topology/store/partition).
        self.label = label
        self._data: dict[bytes, bytes] = {}
        self._sorted: list[bytes] | None = []
        self._position = Position()
        self._reserved = 0
        self._bytes = 0

    @classmethod
    def open(cls, path: Path, state_dir: Path, lock_timeout: float = 0.0) -> MemoryBackend:
        """A new, empty partition (``path`` only names it: nothing is written there)."""
        return cls(str(path.relative_to(state_dir)))

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def iter_range(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        keys = self._sorted
        if keys is None:
            keys = self._sorted = sorted(self._data)
        data = self._data
        for i in range(bisect_left(keys, start), len(keys)):
            key = keys[i]
            if end is not None and key >= end:
                return
            yield key, data[key]

    def position(self) -> Position:
        return self._position

    def new_batch(self) -> Batch:
        return MemoryBatch()

    def write_batch(self, batch: Batch, position: Position) -> None:
        assert isinstance(batch, MemoryBatch)
        data = self._data
        for key, value in batch.ops:
            old = data.get(key)
            if old is not None:
                self._bytes -= len(key) + len(old)
            if value is None:
                if old is not None:
                    del data[key]
                    self._forget(key)
            else:
                data[key] = value
                self._bytes += len(key) + len(value)
                if old is None:
                    self._sorted = None
                    self._reserved += is_reserved(key)
        self._position = self._position.merged(position)

    def _forget(self, key: bytes) -> None:
        self._sorted = None
        self._reserved -= is_reserved(key)

    def entry_count(self) -> int:
        return len(self._data) - self._reserved

    def size_bytes(self) -> int:
        """The keys' and values' bytes (not Python's overhead per entry, which is about 150 bytes more)."""
        return self._bytes

    def wipe(self) -> None:
        self._data.clear()
        self._sorted = []
        self._position = Position()
        self._reserved = self._bytes = 0

    def close(self) -> None:
        self.wipe()
