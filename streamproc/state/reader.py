"""Reading a store's local RocksDB copy without owning it: safe while a worker runs.

RocksDB's read-only mode takes no lock and sees the data as of the moment it was opened, that is,
as of the worker's last checkpoint (a worker's uncommitted writes live only in its memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from rocksdict import AccessType, Rdict

from streamproc.errors import StateError
from streamproc.names import Names
from streamproc.serde.base import SerdeContext
from streamproc.state.rocksdb import CHANGELOG_OFFSET, META_CF, _options, decode_offset
from streamproc.state.store import Store, key_prefix, split_storage_key

#: Framework entries (dedupe marks) live under keys no length-prefixed user key can equal:
#: they start with the largest length prefix but are far shorter than such a key.
_RESERVED = b"\xff\xff"
_MAX_USER_KEY = 2 + 0xFFFF


def local_partitions(state_dir: Path, names: Names, store: str) -> list[int]:
    """Partitions of ``store`` that have a local copy under ``state_dir``."""
    root = names.store_root(state_dir, store)
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def is_reserved(storage_key: bytes) -> bool:
    return storage_key.startswith(_RESERVED) and len(storage_key) < _MAX_USER_KEY


class StoreReader:
    """One (store, partition) opened read-only; entries decoded with the store's serdes."""

    def __init__(self, names: Names, spec: Store, state_dir: Path, partition: int) -> None:
        self.spec = spec
        self.partition = partition
        self.path = names.store_path(state_dir, spec.name, partition)
        if not (self.path / "CURRENT").is_file():
            raise StateError(f"no local copy of store {spec.name!r} partition {partition} at {self.path}")
        try:
            self._db = Rdict(str(self.path), _options(), column_families={META_CF: _options()},
                             access_type=AccessType.read_only())
        except Exception as exc:
            raise StateError(f"cannot read {self.path}: {exc} (run `streamproc state rebuild` to rebuild it)"
                             ) from exc
        self._ctx = SerdeContext(names.changelog(spec.name), is_key=False)
        self._key_ctx = SerdeContext(self._ctx.topic, is_key=True)

    def changelog_offset(self) -> int:
        """The changelog offset the local copy reflects (records before it are applied)."""
        meta = self._db.get_column_family(META_CF)
        raw = meta.get(CHANGELOG_OFFSET)
        del meta
        return 0 if raw is None else decode_offset(raw)

    def get(self, key: Any, sub: Any = None) -> Any:
        """The decoded value of ``key`` (or of its sub-key), or None."""
        storage_key = self.storage_key(key, sub)
        raw = self._db.get(storage_key)
        return None if raw is None else self.spec.value_serde.deserialize(raw, self._ctx)

    def storage_key(self, key: Any, sub: Any = None) -> bytes:
        encoded = self.spec.key_serde.serialize(key, self._key_ctx) or b""
        prefix = key_prefix(encoded)
        if sub is None:
            return prefix
        return prefix + (self.spec.key_serde.serialize(sub, self._key_ctx) or b"")

    def entries(self) -> Iterator[tuple[Any, Any, Any]]:
        """(key, sub-key or None, value) in storage order, framework entries left out."""
        key_de = self.spec.key_serde.deserialize
        value_de = self.spec.value_serde.deserialize
        for storage_key, raw in self._db.items():
            assert isinstance(storage_key, bytes) and isinstance(raw, bytes)  # raw mode
            if is_reserved(storage_key):
                continue
            key, sub = split_storage_key(storage_key)
            yield (key_de(key, self._key_ctx), key_de(sub, self._key_ctx) if sub else None,
                   value_de(raw, self._ctx))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
