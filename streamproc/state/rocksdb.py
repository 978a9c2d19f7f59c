"""One RocksDB (rocksdict) per (store, partition), opened with explicit options.

Values live in the default column family as raw bytes; the ``meta`` column family holds what
recovery needs: the next changelog offset the local copy reflects and the processed source
offsets. Both are written in the same WriteBatch as the values, so they can never disagree.

Damage is found in two places. Opening detects a broken CURRENT, MANIFEST or file size, and the
directory is discarded there and then. A damaged data block is only found when a read reaches it:
that raises CorruptStateError, and the directory is discarded when the store is closed, so that
the worker's restart rebuilds it from the changelog instead of meeting the same block again.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import struct
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch

from streamproc.errors import CorruptStateError, StateError

# private_dirs is re-exported for the callers that open stores; the rules live in streamproc.state.dirs.
from streamproc.state.dirs import PRIVATE_DIR
from streamproc.state.dirs import make_private as _make_private
from streamproc.state.dirs import private_dirs as private_dirs

log = logging.getLogger(__name__)

META_CF = "meta"
CHANGELOG_OFFSET = b"changelog_offset"
SOURCE_PREFIX = b"source:"
_U64 = struct.Struct(">Q")
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


def new_batch() -> WriteBatch:
    """An empty batch of raw-bytes writes to the values, for ``LocalDB.write_batch``."""
    return WriteBatch(raw_mode=True)


def encode_offset(offset: int) -> bytes:
    return _U64.pack(offset)


def decode_offset(raw: bytes) -> int:
    return int(_U64.unpack(raw)[0])


def source_meta_key(topic: str, partition: int) -> bytes:
    return SOURCE_PREFIX + f"{topic}:{partition}".encode()


def _is_lock_error(message: str) -> bool:
    return "lock" in message.lower()


def _is_corruption(message: str) -> bool:
    """RocksDB's own verdicts on a damaged directory (as opposed to a bug or a full disk)."""
    return any(marker in message for marker in ("Corruption", "Invalid argument", "No such file", "IO error"))


class LocalDB:
    """A RocksDB directory. Opening retries while another process still holds its lock
    (a partition moving between processes on one host), then fails with a clear error."""

    def __init__(self, path: Path, lock_timeout: float = 30.0) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        self._bind(self._open(lock_timeout))

    def _bind(self, db: Rdict) -> None:
        self._db = db
        self._damaged = False
        self._meta = db.get_column_family(META_CF)
        self._meta_handle = db.get_column_family_handle(META_CF)

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
        self._damaged = True
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

    def iter_from(self, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        with self._guard():
            yield from self._db.items(from_key=start)

    def changelog_offset(self) -> int | None:
        with self._guard():
            raw = self._meta.get(CHANGELOG_OFFSET)
        return None if raw is None else decode_offset(raw)

    def source_offsets(self) -> dict[str, int]:
        """Processed source offsets (next offset to process) as ``{"topic:partition": offset}``."""
        found: dict[str, int] = {}
        with self._guard():
            for key, raw in self._meta.items(from_key=SOURCE_PREFIX):
                assert isinstance(key, bytes) and isinstance(raw, bytes)  # raw mode
                if not key.startswith(SOURCE_PREFIX):
                    break
                found[key[len(SOURCE_PREFIX) :].decode()] = decode_offset(raw)
        return found

    def write(self, entries: Iterable[tuple[bytes, bytes | None]], meta: Mapping[bytes, bytes]) -> None:
        """Values (None deletes) and metadata in one atomic WriteBatch."""
        batch = new_batch()
        for key, value in entries:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        self.write_batch(batch, meta)

    def write_batch(self, batch: WriteBatch, meta: Mapping[bytes, bytes]) -> None:
        """``batch`` (from ``new_batch``, filled by the caller: the restore's hot loop puts straight into
        it) and metadata, atomically."""
        handle = self._meta_handle
        for key, value in meta.items():
            batch.put(key, value, handle)
        with self._guard():
            self._db.write(batch)

    def close(self) -> None:
        """Close and release the directory lock (column family objects hold it too, so drop them first).
        A directory found damaged is deleted: the next open starts empty and restores from the changelog."""
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

    def estimates(self) -> tuple[int, int]:
        """(keys, bytes) of the values, as RocksDB estimates them without reading any data: cheap enough
        for every checkpoint. Bytes are the SST files plus the memtables not yet flushed to them."""
        db = self._db
        keys = db.property_int_value("rocksdb.estimate-num-keys") or 0
        files = db.property_int_value("rocksdb.total-sst-files-size") or 0
        memtables = db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
        return int(keys), int(files) + int(memtables)
