"""The interface every store backend implements, and the one place that picks a backend.

A backend holds the *committed* data of one (store, partition): raw bytes keys and values, and
the Position those values reflect. The write cache (partition.py), recovery, standbys, rebuilds,
gauges and the read-only readers use only this interface, so a new backend (a windowed one with
time-ordered keys, say) plugs in here without changes to any of them.

What each operation promises:
- ``get`` and ``iter_range`` read committed data only; ``iter_range`` yields in ascending key order.
- ``write_batch`` applies a batch of puts and deletes *and* a Position update atomically: a reader
  or a crash sees either both or neither, which is what makes a local copy exact.
- ``durable`` says whether the data outlives the process. A backend that does not is restored from
  the start of its changelog whenever its partition is assigned; standbys skip it, since nothing
  they keep could be handed to the task that takes the partition over.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar, Protocol

from streamproc.errors import StateError
from streamproc.names import Names
from streamproc.state.position import Position
from streamproc.state.store import Store


class Batch(Protocol):
    """Puts and deletes collected for one ``write_batch`` (the restore's hot loop fills it directly)."""

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def len(self) -> int: ...


class StoreBackend(ABC):
    """The committed data of one store partition."""

    #: The name ``Store(backend=...)`` uses.
    kind: ClassVar[str]
    #: True when the data survives the process (see the module docstring).
    durable: ClassVar[bool]

    @classmethod
    @abstractmethod
    def open(cls, path: Path, state_dir: Path, lock_timeout: float) -> StoreBackend:
        """Open the partition whose data belongs at ``path`` (under ``state_dir``) for writing; a durable
        backend creates its directories owner-only, waits up to ``lock_timeout`` for another process to
        let go of them, and discards damaged ones (CorruptStateError for damage found later)."""

    @classmethod
    def read_only(cls, path: Path) -> StoreBackend:
        """The data at ``path`` without taking it over (durable backends only)."""
        raise StateError(f"a {cls.kind} store has no local copy to read")

    @abstractmethod
    def get(self, key: bytes) -> bytes | None: ...

    @abstractmethod
    def iter_range(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Entries with ``start <= key < end`` (no upper bound when ``end`` is None), in key order."""

    @abstractmethod
    def position(self) -> Position: ...

    @abstractmethod
    def new_batch(self) -> Batch: ...

    @abstractmethod
    def write_batch(self, batch: Batch, position: Position) -> None:
        """Apply ``batch`` and merge ``position`` into the recorded one (Position.merged), atomically."""

    def write(self, entries: Iterable[tuple[bytes, bytes | None]], position: Position) -> None:
        """Values (None deletes) and a Position update in one atomic write."""
        batch = self.new_batch()
        for key, value in entries:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        self.write_batch(batch, position)

    @abstractmethod
    def entry_count(self) -> int:
        """Stored entries, framework entries excluded: a key's own value and each of its sub-keys count one.
        Exact as of the backend's last count: one that must scan to count does so at most now and then."""

    @abstractmethod
    def size_bytes(self) -> int:
        """Bytes the data occupies (on disk or in memory), cheap enough to ask at every checkpoint."""

    @abstractmethod
    def wipe(self) -> None:
        """Discard all data and the position, keeping the backend open (a restore rebuilds it)."""

    @abstractmethod
    def close(self) -> None: ...


def backend_class(spec: Store) -> type[StoreBackend]:
    """The class of the backend ``spec`` declares (Store validates the name, this maps it)."""
    from streamproc.state.memory import MemoryBackend
    from streamproc.state.rocksdb import RocksDBBackend
    from streamproc.state.windowed import WindowedBackend

    classes: dict[str, type[StoreBackend]] = {"rocksdb": RocksDBBackend, "memory": MemoryBackend,
                                              "windowed": WindowedBackend}
    try:
        return classes[spec.backend]
    except KeyError:
        raise StateError(f"store {spec.name!r}: no backend {spec.backend!r}") from None


def open_backend(spec: Store, state_dir: Path, names: Names, partition: int,
                 lock_timeout: float = 30.0) -> StoreBackend:
    """The backend ``spec`` declares, opened for (exclusive) writing; this is the one place that sets up
    a store's directory."""
    cls = backend_class(spec)
    return cls.open(names.store_path(state_dir, spec.name, partition), state_dir, lock_timeout)


def open_local_copy(spec: Store, state_dir: Path, names: Names, partition: int) -> StoreBackend:
    """A read-only view of the local copy of ``spec[partition]``, safe beside a worker that owns it.

    Raises StateError when there is none; a backend that is not durable never has one.
    """
    cls = backend_class(spec)
    if not cls.durable:
        raise StateError(f"store {spec.name!r} keeps its state in memory (backend {spec.backend!r}): it has no "
                         "local copy; its changelog is its only durable copy")
    return cls.read_only(names.store_path(state_dir, spec.name, partition))
