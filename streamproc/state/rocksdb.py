"""The default store backend: one RocksDB (rocksdict) per (store, partition), opened with explicit options.

Values live in the default column family as raw bytes; the ``meta`` column family holds the
Position (position.py's entries). Both are written in the same WriteBatch, so they never disagree.

Damage is found in two places. Opening detects a broken CURRENT, MANIFEST or file size, and the
directory is discarded there and then. A damaged data block is only found when a read reaches it:
that raises CorruptStateError, and the directory is discarded when the store is closed, so that
the worker's restart rebuilds it from the changelog instead of meeting the same block again.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar, cast

from rocksdict import AccessType, BlockBasedOptions, Cache, Options, Rdict, WriteBatch

from streamproc.errors import CorruptStateError, StateError
from streamproc.state.backend import Batch, StoreBackend

# private_dirs is re-exported for the callers that open stores; the rules live in streamproc.state.dirs.
from streamproc.state.dirs import PRIVATE_DIR
from streamproc.state.dirs import make_private as _make_private
from streamproc.state.dirs import private_dirs as private_dirs
from streamproc.state.position import Position
from streamproc.state.store import RESERVED_PREFIX, is_reserved

log = logging.getLogger(__name__)

META_CF = "meta"
#: The clock of the entry count's waits between scans (a test replaces it).
_clock: Callable[[], float] = time.monotonic
_BLOCK_CACHE_BYTES = 64 * 1024 * 1024
_shared_cache: Cache | None = None


def _options() -> Options:
    """Options re-applied on every open; the block cache is shared by all stores of the process."""
    global _shared_cache
    if _shared_cache is None:
        _shared_cache = Cache(_BLOCK_CACHE_BYTES)
    table = BlockBasedOptions()
    table.set_block_cache(_shared_cache)
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    opts.set_block_based_table_factory(table)
    return opts


def _is_lock_error(message: str) -> bool:
    return "lock" in message.lower()


def _is_corruption(message: str) -> bool:
    """RocksDB's own verdicts on a damaged directory (as opposed to a bug or a full disk)."""
    return any(marker in message for marker in ("Corruption", "Invalid argument", "No such file", "IO error"))


class RocksDBBackend(StoreBackend):
    """A RocksDB directory. Opening retries while another process still holds its lock
    (a partition moving between processes on one host), then fails with a clear error."""

    kind: ClassVar[str] = "rocksdb"
    durable: ClassVar[bool] = True
    #: A scan that counts the entries again (entry_count) waits this many seconds after the last one, and
    #: RECOUNT_COST times as long as that one took.
    RECOUNT_INTERVAL: ClassVar[float] = 30.0
    RECOUNT_COST: ClassVar[float] = 100.0

    def __init__(self, path: Path, lock_timeout: float = 30.0, *, read_only: bool = False) -> None:
        self.path = path
        self._read_only = read_only
        #: The last entry count, whether the data changed since, and when the next count may run.
        self._reported = 0
        self._changed = True
        self._next_scan = 0.0
        #: ``write_batch`` (a restore's step) ran since the last ``write`` (which ends a restore).
        self._restoring = False
        if read_only:
            self._bind(self._open_read_only())
        else:
            path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
            self._bind(self._open(lock_timeout))

    @classmethod
    def open(cls, path: Path, state_dir: Path, lock_timeout: float = 30.0) -> RocksDBBackend:
        """Open ``path`` for writing, creating it and the directories above it owner-only."""
        private_dirs(path, state_dir)
        return cls(path, lock_timeout)

    @classmethod
    def read_only(cls, path: Path) -> RocksDBBackend:
        """Open an existing copy without its lock: it shows the data as of the moment it was opened, that is,
        as of its owner's last checkpoint (uncommitted writes live only in the owner's memory)."""
        return cls(path, read_only=True)

    def _bind(self, db: Rdict) -> None:
        self._db = db
        self._closed = False
        self._damaged = False
        self._meta = db.get_column_family(META_CF)
        self._meta_handle = db.get_column_family_handle(META_CF)

    def _open_read_only(self) -> Rdict:
        if not (self.path / "CURRENT").is_file():
            raise StateError(f"no local copy at {self.path}")
        try:
            return Rdict(str(self.path), _options(), column_families={META_CF: _options()},
                         access_type=AccessType.read_only())
        except Exception as exc:
            raise StateError(f"cannot read {self.path}: {exc} (run `streamproc state rebuild` to rebuild it)"
                             ) from exc

    def _open(self, lock_timeout: float) -> Rdict:
        deadline = time.monotonic() + lock_timeout
        while True:
            _make_private(self.path)  # RocksDB would create it world-readable (0755)
            try:
                return Rdict(str(self.path), _options(), column_families={META_CF: _options()})
            except Exception as exc:
                message = str(exc)
                if _is_lock_error(message):
                    if time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                    raise StateError(
                        f"state directory {self.path} is locked by another process for over {lock_timeout:.0f}s; "
                        "is another worker with the same --state-dir still running?"
                    ) from exc
                if not _is_corruption(message):
                    raise
                log.warning("state directory %s is unreadable (%s); discarding it to rebuild from the changelog",
                            self.path, message)
                shutil.rmtree(self.path, ignore_errors=True)
                _make_private(self.path)
                return Rdict(str(self.path), _options(), column_families={META_CF: _options()})

    def _corrupt(self, exc: Exception) -> CorruptStateError | None:
        """A CorruptStateError for a read or write that failed on damaged files (None for other failures);
        the directory is then discarded on close."""
        message = str(exc)
        if not _is_corruption(message):
            return None
        self._damaged = not self._read_only
        return CorruptStateError(f"state directory {self.path} is damaged ({message})")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turns a failure on damaged files into CorruptStateError (not used by ``get``: the hot path)."""
        try:
            yield
        except CorruptStateError:
            raise
        except Exception as exc:
            corrupt = self._corrupt(exc)
            if corrupt is None:
                raise
            raise corrupt from exc

    def get(self, key: bytes) -> bytes | None:
        try:
            value: bytes | None = self._db.get(key)
        except Exception as exc:
            corrupt = self._corrupt(exc)
            if corrupt is None:
                raise
            raise corrupt from exc
        return value

    def iter_range(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        items = cast(Iterable[tuple[bytes, bytes]], self._db.items(from_key=start))  # raw mode: bytes
        with self._guard():
            for key, value in items:
                if end is not None and key >= end:
                    return
                yield key, value

    def position(self) -> Position:
        with self._guard():
            return Position.from_entries(cast(Iterable[tuple[bytes, bytes]], self._meta.items()))

    def new_batch(self) -> Batch:
        batch: Batch = WriteBatch(raw_mode=True)
        return batch

    def write_batch(self, batch: Batch, position: Position) -> None:
        """A ``write`` ends a restore; its ``write_batch`` steps mark one in progress (not counted meanwhile)."""
        self._restoring = True
        self._write(batch, position)

    def write(self, entries: Iterable[tuple[bytes, bytes | None]], position: Position) -> None:
        batch = WriteBatch(raw_mode=True)
        put, delete = batch.put, batch.delete
        for key, value in entries:
            if value is None:
                delete(key)
            else:
                put(key, value)
        self._write(batch, position)
        self._restoring = False

    def _write(self, batch: Any, position: Position) -> None:
        handle = self._meta_handle
        for key, value in position.to_entries().items():
            batch.put(key, value, handle)
        with self._guard():
            self._db.write(batch)
        self._changed = True

    def entry_count(self) -> int:
        """Exact as of the last count: a scan of the keys (about 0.3 s per million), run when asked after the data
        changed, but at most every RECOUNT_INTERVAL seconds and 1/RECOUNT_COST of the time, and not while a
        restore is writing; the last count is reported meanwhile. Counting as the data changes would cost a
        lookup of every written key at every checkpoint."""
        if self._changed and not self._restoring and _clock() >= self._next_scan:
            started = _clock()
            with self._guard():
                keys = cast(Iterable[bytes], self._db.keys())  # keys only: values are not read
                total = sum(1 for _ in keys)
                # Framework entries sort after every user key but those of 65,535 bytes: a short seek finds them.
                total -= sum(is_reserved(key) for key, _ in self.iter_range(RESERVED_PREFIX))
            self._reported, self._changed = total, False
            took = _clock() - started
            self._next_scan = started + took + max(self.RECOUNT_INTERVAL, self.RECOUNT_COST * took)
        return self._reported

    def size_bytes(self) -> int:
        """SST files plus the memtables not yet flushed to them, as RocksDB reports them without reading data."""
        db = self._db
        files = db.property_int_value("rocksdb.total-sst-files-size") or 0
        memtables = db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
        return int(files) + int(memtables)

    def close(self) -> None:
        """Close and release the directory lock (column family objects hold it too, so drop them first).
        A directory found damaged is deleted: the next open starts empty and restores from the changelog."""
        if self._closed:
            return
        self._closed = True
        del self._meta, self._meta_handle
        self._db.close()
        if self._damaged:
            shutil.rmtree(self.path, ignore_errors=True)
            log.warning("discarded the damaged state directory %s; it is rebuilt from the changelog", self.path)

    def wipe(self) -> None:
        """Close and delete the directory, then reopen it empty (local state discarded for a rebuild)."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self._bind(self._open(0.0))
        self._reported, self._changed = 0, False
