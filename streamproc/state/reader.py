"""Reading a store partition's committed data without owning it, decoded with the store's serdes.

A durable store is read from its local copy (``StoreReader.local``), which is safe while a worker
runs: it shows the data as of that worker's last checkpoint. A memory store has no local copy; the
``state`` commands read it from its changelog instead (ops/rebuild.py's ``restore_in_memory``) and
hand the restored backend to ``StoreReader``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from streamproc.names import Names
from streamproc.serde.base import SerdeContext
from streamproc.state.backend import StoreBackend, open_local_copy
from streamproc.state.store import Store, is_reserved, key_prefix, split_storage_key
from streamproc.state.ttl import WRITE_TIME
from streamproc.state.windowed import window_key


def local_partitions(state_dir: Path, names: Names, store: str) -> list[int]:
    """Partitions of ``store`` that have a local copy under ``state_dir``."""
    root = names.store_root(state_dir, store)
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


class StoreReader:
    """One (store, partition)'s committed entries, decoded; closes the backend it is given."""

    def __init__(self, names: Names, spec: Store, backend: StoreBackend, partition: int) -> None:
        self.spec = spec
        self.partition = partition
        self._backend = backend
        self._ctx = SerdeContext(names.changelog(spec.name), is_key=False)
        self._key_ctx = SerdeContext(self._ctx.topic, is_key=True)

    @classmethod
    def local(cls, names: Names, spec: Store, state_dir: Path, partition: int) -> StoreReader:
        """The local copy, opened read-only (StateError when there is none)."""
        return cls(names, spec, open_local_copy(spec, state_dir, names, partition), partition)

    def changelog_offset(self) -> int:
        """The changelog offset the data reflects (records before it are applied)."""
        return self._backend.position().changelog or 0

    def get(self, key: Any, sub: Any = None) -> Any:
        """The decoded value of ``key`` (or of its sub-key), or None."""
        raw = self._backend.get(self.storage_key(key, sub))
        return None if raw is None else self._decode(raw)

    def _decode(self, raw: bytes) -> Any:
        """A committed value, without the write time a TTL store keeps in front of it (state/ttl.py). An entry
        expired but not yet swept is shown: the reader has no clock of the task's to judge it by."""
        if self.spec.ttl is not None:
            raw = raw[WRITE_TIME.size:]
        return self.spec.value_serde.deserialize(raw, self._ctx)

    def items(self, key: Any) -> Iterator[tuple[Any, Any]]:
        """(sub-key, value) of ``key`` used as a map (``state[sub] = v``), in sub-key order, as
        ``KeyedState.items()`` returns them; in a windowed store, (window start, value) of its windows. The key's
        own value, if any, is not among them."""
        prefix = self.storage_key(key)
        value_de = self._decode
        for storage_key, raw in self._backend.iter_range(prefix):
            if not storage_key.startswith(prefix):
                return  # past the key: its entries are contiguous (length-prefixed keys)
            if len(storage_key) > len(prefix):
                yield self._sub(storage_key[len(prefix):]), value_de(raw)

    def storage_key(self, key: Any, sub: Any = None) -> bytes:
        encoded = self.spec.key_serde.serialize(key, self._key_ctx) or b""
        prefix = key_prefix(encoded)
        if sub is None:
            return prefix
        if self.spec.backend == "windowed":
            return window_key(prefix, sub)
        return prefix + (self.spec.key_serde.serialize(sub, self._key_ctx) or b"")

    def _sub(self, sub: bytes) -> Any:
        """A decoded sub-key: a window start (ms) in a windowed store, whose sub-keys are 8-byte starts."""
        if self.spec.backend == "windowed":
            return int.from_bytes(sub, "big")
        return self.spec.key_serde.deserialize(sub, self._key_ctx)

    def entries(self) -> Iterator[tuple[Any, Any, Any]]:
        """(key, sub-key or None, value) in storage order, framework entries left out."""
        key_de = self.spec.key_serde.deserialize
        value_de = self._decode
        for storage_key, raw in self._backend.iter_range(b""):
            if is_reserved(storage_key):
                continue
            key, sub = split_storage_key(storage_key)
            yield key_de(key, self._key_ctx), self._sub(sub) if sub else None, value_de(raw)

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
