"""One store on one partition: a per-checkpoint write cache over the store's backend.

Reads see the task's own uncommitted writes. Nothing reaches the backend or the changelog until a
checkpoint, and then each dirty key costs exactly one encode, one changelog record and one batch
entry, however often it changed in between. The backend (backend.py) holds the committed data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from streamproc.errors import StateValueError
from streamproc.names import Names
from streamproc.serde.base import SerdeContext
from streamproc.state.backend import StoreBackend, open_backend
from streamproc.state.position import TP, Position
from streamproc.state.store import Store, is_reserved

#: Marks a key deleted in the write cache (its changelog record is a tombstone).
DELETED: Any = object()
#: Returned by ``get`` for a key that has no value.
MISSING: Any = object()

Produce = Callable[[str, bytes, bytes | None, int, Callable[[Any, Any], None]], None]


class StorePartition:
    __slots__ = (
        "_backend",
        "_cache",
        "_ctx",
        "_delivery_errors",
        "_max_delivered",
        "_raw",
        "_staged",
        "changelog",
        "generation",
        "partition",
        "spec",
    )

    def __init__(self, spec: Store, backend: StoreBackend, changelog: str, partition: int) -> None:
        self.spec = spec
        self.changelog = changelog
        self.partition = partition
        self._backend = backend
        self._cache: dict[bytes, Any] = {}
        #: Framework entries (already encoded; None deletes) committed with the user's values, e.g. dedupe
        #: marks, stream time, timers.
        self._raw: dict[bytes, bytes | None] = {}
        self._ctx = SerdeContext(changelog, is_key=False)
        self._staged: list[tuple[bytes, bytes | None]] = []
        self._max_delivered = -1
        #: KafkaErrors of failed changelog sends (kept as errors: a fencing one means something else).
        self._delivery_errors: list[Any] = []
        #: Counts the times the write cache was emptied (a checkpoint, or dropped): a write made in the current
        #: generation and deleted again in it never reached the backend or the changelog.
        self.generation = 0

    # --- reads and writes, by storage key -------------------------------------------------------
    def get(self, key: bytes) -> Any:
        value = self._cache.get(key, MISSING)
        if value is MISSING:
            raw = self._backend.get(key)
            if raw is None:
                return MISSING
            return self.spec.value_serde.deserialize(raw, self._ctx)
        if value is DELETED:
            return MISSING
        return value

    def put(self, key: bytes, value: Any) -> None:
        self._cache[key] = value

    def delete(self, key: bytes) -> None:
        self._cache[key] = DELETED

    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, Any]]:
        """Entries whose storage key extends ``prefix`` (excluding ``prefix`` itself): a key's sub-keys."""
        return self._merged(prefix, prefix_end(prefix), prefix)

    def iter_range(self, start: bytes, end: bytes | None = None) -> Iterator[tuple[bytes, Any]]:
        """Entries with ``start <= storage key < end`` (no upper bound when ``end`` is None)."""
        return self._merged(start, end, None)

    def _merged(self, start: bytes, end: bytes | None, skip: bytes | None) -> Iterator[tuple[bytes, Any]]:
        """Committed entries in [start, end) overlaid with the write cache, in key order; ``skip`` left out,
        framework entries too."""
        pending = {k: v for k, v in self._cache.items() if start <= k and (end is None or k < end) and k != skip}
        deserialize = self.spec.value_serde.deserialize
        merged: dict[bytes, Any] = {}
        for key, raw in self._backend.iter_range(start, end):
            if key != skip and not is_reserved(key):
                merged[key] = deserialize(raw, self._ctx)
        merged.update(pending)
        for key in sorted(merged):
            value = merged[key]
            if value is not DELETED:
                yield key, value

    @property
    def write_cache(self) -> dict[bytes, Any]:
        """Uncommitted values by storage key (DELETED marks a delete); for KeyedState's hot path."""
        return self._cache

    def put_raw(self, key: bytes, value: bytes | None) -> None:
        """Stage a framework entry (None: delete it) for the next checkpoint."""
        self._raw[key] = value

    def iter_raw(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Framework entries in [start, end): committed ones overlaid with those staged, in key order. Lazy:
        reading the first few costs a few committed entries, however many the range holds."""
        pending = sorted((k, v) for k, v in self._raw.items() if start <= k < end)
        i = 0
        for key, raw in self._backend.iter_range(start, end):
            while i < len(pending) and pending[i][0] < key:
                if pending[i][1] is not None:
                    yield pending[i]  # type: ignore[misc]
                i += 1
            if i < len(pending) and pending[i][0] == key:
                staged = pending[i][1]
                i += 1
                if staged is not None:
                    yield key, staged
                continue
            yield key, raw
        for key, staged in pending[i:]:
            if staged is not None:
                yield key, staged

    @property
    def dirty_count(self) -> int:
        """Uncommitted writes: user values and framework entries (a fired timer is a write too)."""
        return len(self._cache) + len(self._raw)

    # --- checkpoint -----------------------------------------------------------------------------
    def stage_changelog(self, produce: Produce) -> int:
        """Encode each dirty key once and send its changelog record; returns the record count."""
        serialize = self.spec.value_serde.serialize
        ctx = self._ctx
        staged = self._staged = []
        on_delivery = self._on_delivery
        partition = self.partition
        for key, value in self._cache.items():
            try:
                encoded = None if value is DELETED else serialize(value, ctx)
            except Exception as exc:  # checked at set(): only a change in place after it gets here
                raise StateValueError(
                    f"store {self.spec.name!r}: a value was changed in place after set() into something its serde "
                    f"cannot encode ({exc}); call set() again after changing a value, so that it is checked "
                    "while its record is processed") from None
            staged.append((key, encoded))
            produce(self.changelog, key, encoded, partition, on_delivery)
        for key, raw in self._raw.items():
            staged.append((key, raw))
            produce(self.changelog, key, raw, partition, on_delivery)
        return len(staged)

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._delivery_errors.append(err)
            return
        offset = msg.offset()
        if offset > self._max_delivered:
            self._max_delivered = offset

    def delivery_errors(self) -> list[Any]:
        return list(self._delivery_errors)

    def commit_local(self, processed: Mapping[TP, int]) -> None:
        """Write the staged values with the changelog position and processed offsets, atomically.

        Called only after the changelog records were acknowledged and the input offsets committed.
        """
        delivered = self._max_delivered + 1 if self._max_delivered >= 0 else None
        self._backend.write(self._staged, Position(delivered, processed))
        self.discard()

    def discard(self) -> None:
        """Drop uncommitted writes (a failed checkpoint, a lost partition)."""
        self._cache.clear()
        self._raw.clear()
        self._staged = []
        self._delivery_errors.clear()
        self.generation += 1

    # --- recovery, gauges -------------------------------------------------------------------------
    @property
    def backend(self) -> StoreBackend:
        return self._backend

    def close(self) -> None:
        self.discard()
        self._backend.close()


def open_partition(spec: Store, state_dir: Path, names: Names, partition: int,
                   lock_timeout: float = 30.0) -> StorePartition:
    """``spec``'s partition with the backend it declares (creating its directory if the backend keeps one)."""
    backend = open_backend(spec, state_dir, names, partition, lock_timeout)
    if spec.ttl is not None:  # a subclass, so that a store without ttl pays nothing for it
        from streamproc.state.ttl import TtlStorePartition

        return TtlStorePartition(spec, backend, names.changelog(spec.name), partition)
    return StorePartition(spec, backend, names.changelog(spec.name), partition)


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key above every key that starts with ``prefix`` (None: there is none)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])
