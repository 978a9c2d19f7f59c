"""The windowed store backend (``Store(name, backend="windowed")``), the store of a WindowedBolt.

It is RocksDB with a key layout: every window is one entry under (tuple key, window start), that is the
key's storage prefix (store.key_prefix) followed by the start as 8 big-endian bytes. A key's windows are
then contiguous and in start order, so one key's windows are a range scan, and a scan of the whole store
meets every window, which is how a restored task rebuilds its in-memory index of when each window closes
and expires (streamproc.windows.engine): no second changelog, no separate index to keep in step.

Everything else (the write cache, changelog, recovery, standbys, read-only copies) is the store interface's
(backend.py), unchanged: a window's entry is written, changelogged and deleted (tombstone) like any value.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import ClassVar

from streamproc.state.rocksdb import RocksDBBackend
from streamproc.state.store import is_reserved

_START = struct.Struct(">Q")
#: Bytes of a window start at the end of a storage key.
START_BYTES = _START.size
pack_start = _START.pack


def window_key(prefix: bytes, start: int) -> bytes:
    """The storage key of the window of the key whose storage prefix is ``prefix``, starting at ``start``."""
    return prefix + _START.pack(start)


def split_window_key(storage_key: bytes) -> tuple[bytes, int]:
    """(the key's storage prefix, window start) of a window's storage key."""
    return storage_key[:-START_BYTES], int(_START.unpack_from(storage_key, len(storage_key) - START_BYTES)[0])


class WindowedBackend(RocksDBBackend):
    """RocksDB holding windows under (key, start); see the module docstring."""

    kind: ClassVar[str] = "windowed"

    def windows(self) -> Iterator[tuple[bytes, bytes]]:
        """(storage key, committed value) of every window, in (key, start) order; framework entries skipped."""
        for storage_key, raw in self.iter_range(b""):
            if not is_reserved(storage_key):
                yield storage_key, raw
