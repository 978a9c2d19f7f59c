"""State TTL: a store partition whose entries expire once they have not been written for ``Store.ttl``.

Where the write time lives: with the value. A TTL store's committed value (in the backend and in
the changelog) is the write time (8 bytes, signed big-endian ms) followed by the value's serde
bytes, so every copy of an entry carries it: a restore, from a local copy or from the changelog
alone, knows how old each entry is, and an expired entry stays invisible after any restore (it
is never resurrected). Until its checkpoint an entry's write time is kept beside the write cache.

The clock: ``clock="event"`` measures in the task's stream time (restored with the state, so a
restart continues where the last checkpoint left it); ``clock="wall"`` in the wall clock. An
entry written at ``t`` is expired once ``now >= t + ttl``.

What expiry promises:
- reads (``get``, ``items``, sub-keys) see an expired entry gone at once;
- an entry written within ``ttl`` of now is never deleted: expiry only ever removes an entry whose
  last write, committed or in the write cache, is ``ttl`` old;
- an expired entry is deleted with a changelog tombstone at a checkpoint: at the first one after it
  expired if its last write is in the write cache, otherwise when the sweep reaches it. A task
  with no input still checkpoints once an entry may have expired (``expiry_due``: each full round
  of the sweep learns the earliest expiry time of the entries it kept), so a quiet stream's
  expired entries go too.

The sweep, not an index: each checkpoint at which an entry may have expired (``expiry_due``) reads
up to ``SWEEP`` committed entries of the partition,
continuing where the last one stopped and wrapping around, and tombstones those expired (reading
only their first 8 bytes, decoding nothing). An index by write time would find expired entries
without reading others, but it costs memory per key (a store's size is what RocksDB is for) and a
scan of the whole local copy at every assignment to rebuild it, which would make a restart of a
large store as slow as a full restore. The sweep costs no memory and no restore time, and it
spreads the tombstones of a mass expiry (stream time jumping a day ahead) over several checkpoints
instead of one huge one. The price: an expired entry stays on disk, invisible, for up to
(entries / SWEEP) checkpoints.

TTL is per entry: a key's own value and each of its sub-keys (``state[sub]``) expire on their own
last write; writing one sub-key does not refresh the others.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from streamproc.errors import StateError, StateValueError
from streamproc.runtime.clock import system_wall_ms
from streamproc.state.backend import StoreBackend
from streamproc.state.partition import DELETED, MISSING, Produce, StorePartition
from streamproc.state.store import Store, is_reserved, reserved_key

#: The write time in front of a TTL store's value bytes.
WRITE_TIME = struct.Struct(">q")
#: Committed entries each checkpoint's sweep reads, per partition.
SWEEP = 10_000
NEVER = 1 << 63
#: A framework entry of every TTL store with data: its values carry write times. Without it, adding ``ttl`` to a
#: store that holds data (or removing it) would read every value wrongly; with it, that is refused at start.
TTL_MARK = reserved_key("streamproc.ttl")


def split_value(raw: bytes) -> tuple[int, bytes]:
    """(write time in ms, the value's serde bytes) of a TTL store's committed value."""
    return WRITE_TIME.unpack_from(raw)[0], raw[WRITE_TIME.size:]


class TtlStorePartition(StorePartition):
    """A StorePartition of a store with ``ttl``. ``now()`` is the store's clock (the task sets it: stream time
    or the wall clock); ``expired`` counts the entries whose tombstones committed (the metric)."""

    __slots__ = ("_cursor", "_expiring", "_floor", "_marked", "_round_min", "_swept", "_written", "expired", "now",
                 "sweep", "ttl_ms")

    def __init__(self, spec: Store, backend: StoreBackend, changelog: str, partition: int) -> None:
        super().__init__(spec, backend, changelog, partition)
        assert spec.ttl is not None
        self.ttl_ms = max(1, round(spec.ttl * 1000))
        self.now: Callable[[], int] = system_wall_ms
        #: The write time of every value in the write cache.
        self._written: dict[bytes, int] = {}
        self.sweep = SWEEP
        #: Where the next sweep starts; the least expiry time among the live entries the current round of the
        #: sweep has read or committed; a time no committed entry expires before (0: not known yet, sweep now).
        self._cursor = b""
        self._round_min = NEVER
        self._floor = 0
        #: (cursor, round_min, floor) as the staged checkpoint leaves them, applied once it commits.
        self._swept: tuple[bytes, int, int] | None = None
        self._expiring = 0
        self.expired = 0
        self._marked = False

    @property
    def written(self) -> dict[bytes, int]:
        """The write time of every value in the write cache (the TTL KeyedState sets it beside the value)."""
        return self._written

    def expiry_due(self) -> bool:
        """Whether a committed entry may have expired: then a checkpoint is due even with no input (on the wall
        clock, or with idle advance), so that expired entries are deleted on a quiet stream too."""
        return self.now() >= self._floor

    # --- reads and writes -------------------------------------------------------------------------
    def get(self, key: bytes) -> Any:
        value = self._cache.get(key, MISSING)
        if value is MISSING:
            raw = self._backend.get(key)
            if raw is None:
                return MISSING
            written, encoded = split_value(raw)
            if written + self.ttl_ms <= self.now():
                return MISSING
            return self.spec.value_serde.deserialize(encoded, self._ctx)
        if value is DELETED or self._written[key] + self.ttl_ms <= self.now():
            return MISSING
        return value

    def put(self, key: bytes, value: Any) -> None:
        self._cache[key] = value
        self._written[key] = self.now()

    def _merged(self, start: bytes, end: bytes | None, skip: bytes | None) -> Iterator[tuple[bytes, Any]]:
        now, ttl, written = self.now(), self.ttl_ms, self._written
        deserialize = self.spec.value_serde.deserialize
        merged: dict[bytes, Any] = {}
        for key, raw in self._backend.iter_range(start, end):
            if key != skip and not is_reserved(key):
                at, encoded = split_value(raw)
                if at + ttl > now:
                    merged[key] = deserialize(encoded, self._ctx)
        for key, value in self._cache.items():
            if start <= key and (end is None or key < end) and key != skip:
                live = value is not DELETED and written[key] + ttl > now
                merged[key] = value if live else DELETED
        for key in sorted(merged):
            value = merged[key]
            if value is not DELETED:
                yield key, value

    # --- checkpoint -------------------------------------------------------------------------------
    def stage_changelog(self, produce: Produce) -> int:
        """As StorePartition's, with each value prefixed by its write time, and expired entries tombstoned: those
        of the write cache whose last write is ``ttl`` old, and those the sweep finds committed."""
        now, ttl, cache, written = self.now(), self.ttl_ms, self._cache, self._written
        if not self._marked:
            self._marked = self._backend.get(TTL_MARK) is not None
            if not self._marked:
                self._raw[TTL_MARK] = b"1"
        expiring = 0
        for key, value in cache.items():
            if value is not DELETED and written[key] + ttl <= now:
                cache[key] = DELETED  # assigning an existing key: the dict's size does not change
                expiring += 1
        if now >= self._floor:  # otherwise no committed entry can have expired: nothing to read
            for key in self._sweep(now):
                cache[key] = DELETED
                expiring += 1
        else:
            self._swept = (self._cursor, self._round_min, self._floor)
        self._expiring = expiring
        # The values committed now: the floor must stay below their expiry; so must the current round's least
        # expiry, for those the round has already passed (it reads the others when it gets to them).
        assert self._swept is not None
        cursor, round_min, floor = self._swept
        for key, value in cache.items():
            if value is not DELETED:
                expires = written[key] + ttl
                if expires < floor:
                    floor = expires
                if key < cursor and expires < round_min:
                    round_min = expires
        self._swept = (cursor, round_min, floor)
        serialize = self.spec.value_serde.serialize
        ctx, pack = self._ctx, WRITE_TIME.pack
        staged = self._staged = []
        on_delivery, partition = self._on_delivery, self.partition
        for key, value in cache.items():
            try:
                data = None if value is DELETED else serialize(value, ctx)
                encoded = None if data is None else pack(written[key]) + data
            except Exception as exc:  # see StorePartition.stage_changelog
                raise StateValueError(
                    f"store {self.spec.name!r}: a value was changed in place after set() into something its serde "
                    f"cannot encode ({exc}); call set() again after changing a value") from None
            staged.append((key, encoded))
            produce(self.changelog, key, encoded, partition, on_delivery)
        for key, raw in self._raw.items():
            staged.append((key, raw))
            produce(self.changelog, key, raw, partition, on_delivery)
        return len(staged)

    def _sweep(self, now: int) -> list[bytes]:
        """Committed entries expired at ``now`` and not in the write cache, among the next ``sweep`` from the cursor
        (wrapping around once). Stages where the next sweep starts and, when this one completed a round, the new
        floor: the least expiry time among the live entries of the round (writes committed meanwhile included)."""
        found: list[bytes] = []
        budget, cache, ttl, start = self.sweep, self._cache, self.ttl_ms, self._cursor
        round_min = self._round_min
        unpack = WRITE_TIME.unpack_from
        for first, last in ((start, None), (b"", start)):
            if last == b"":
                break  # the first range covered everything
            for key, raw in self._backend.iter_range(first, last):
                if budget == 0:
                    self._swept = (key, round_min, self._floor)
                    return found
                budget -= 1
                if is_reserved(key) or key in cache:
                    continue  # a framework entry; or one written since, whose expiry the checkpoint accounts for
                expires = unpack(raw)[0] + ttl
                if expires <= now:
                    found.append(key)
                elif expires < round_min:
                    round_min = expires
        self._swept = (b"", NEVER, round_min)  # a round completed: its least expiry is the new floor
        return found

    def commit_local(self, processed: Any) -> None:
        self.expired += self._expiring
        if self._swept is not None:
            self._cursor, self._round_min, self._floor = self._swept
        super().commit_local(processed)

    def discard(self) -> None:
        """Drop uncommitted writes; the sweep state stays as the last commit left it."""
        super().discard()
        self._written.clear()
        self._expiring = 0
        self._swept = None

    def take_expired(self) -> int:
        """Expired entries tombstoned and committed since the last call."""
        count, self.expired = self.expired, 0
        return count


def check_format(part: StorePartition) -> None:
    """Refuse a store whose committed values were written with ``ttl`` while it is declared without, or the other
    way round (called after its restore, before the task processes anything)."""
    marked = part.backend.get(TTL_MARK) is not None
    if marked == (part.spec.ttl is not None):
        return
    first = next(iter(part.backend.iter_range(b"")), None)
    if first is None or is_reserved(first[0]):  # no user entries (reserved keys sort last): nothing to misread
        if marked:
            part.put_raw(TTL_MARK, None)
        return
    was, now = ("with", "without") if marked else ("without", "with")
    raise StateError(f"store {part.spec.name!r} holds values written {was} ttl but is declared {now} it, and a TTL "
                     "store keeps each value's write time with it; to change ttl on a store that holds data, "
                     "start it over (`streamproc replay TARGET --reset-state`) or give the store a new name")


def bind_clocks(stores: Iterable[StorePartition], stream_time: Callable[[], int],
                wall: Callable[[], int]) -> list[TtlStorePartition]:
    """Give each TTL store of a task its clock (the task's stream time, or the wall clock), before the bolts' states
    are made (they keep it); returns them."""
    found = []
    for part in stores:
        if isinstance(part, TtlStorePartition):
            part.now = wall if part.spec.clock == "wall" else stream_time
            found.append(part)
    return found
