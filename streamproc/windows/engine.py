"""The windows of one WindowedBolt in one task: the per-record path, and closing windows as stream time passes.

Closing uses part A's stream-time hook, not one keyed timer per window: the task's stream time calls
``fire(now)`` once it reaches ``next_due`` (the earliest close or expiry time here), as it does for timers.
A timer per window would cost a framework entry, a changelog record and a tombstone per window on top of
the window's own; the hook costs nothing per record. What it needs, when each open window closes, is an
in-memory index (close time -> window keys) that ``load`` rebuilds from the windowed store itself after a
restore: every stored window is open, or closed and kept for ``retention``, and its key says when.

A window closes once stream time reaches its close time (exclusive end + grace). Closing emits its final
result (emit mode "final") and deletes it from the store (a changelog tombstone at the next checkpoint),
or, with ``retention``, keeps it that much longer. Closing happens before the record that moved stream
time is processed, in (close time, storage key) order, so a replay from the last checkpoint restores the
same windows and stream time and closes them with the same results, in the same order, with the same
origins (streamproc.runtime.tasktime): downstream recognises the copies.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamproc.components import Tuple
from streamproc.errors import StateError
from streamproc.metrics import Tally
from streamproc.runtime.clock import NEVER, StreamTime
from streamproc.runtime.timers import callback_failed
from streamproc.serde.base import SerdeContext
from streamproc.state.partition import MISSING, StorePartition
from streamproc.state.store import key_prefix
from streamproc.state.values import ValueCheck
from streamproc.state.windowed import START_BYTES, WindowedBackend, pack_start, split_window_key
from streamproc.windows.kinds import Hopping

if TYPE_CHECKING:
    from streamproc.components import CallbackContext
    from streamproc.runtime.policy import ErrorPolicy
    from streamproc.windows.bolt import WindowedBolt

Context = Callable[[Any, int], "CallbackContext"]
LATE = "late"


class Engine:
    """What every kind shares: keys, the store, late records, the close and expiry index, final emission."""

    CACHED_KEYS = 65536
    #: The per-record path (the bolt's ``process`` once bound).
    process: Callable[[Tuple], None]

    def __init__(self, component: str, bolt: WindowedBolt, part: StorePartition, clock: StreamTime,
                 policy: ErrorPolicy, late: Tally) -> None:
        cls = type(bolt)
        self.component = component
        self._bolt = bolt
        self._part = part
        self._cache = part.write_cache
        self._clock = clock
        self._policy = policy
        self._late_tally = late
        self._init = cls.aggregation.init
        self._add = cls.aggregation.add
        self._result = cls.aggregation.result
        self._final = cls.emit_mode == "final"
        self._updates = not self._final
        self._retention: int = cls.retention_ms
        self._key_ctx = SerdeContext(part.changelog, is_key=True)
        self._value_ctx = SerdeContext(part.changelog, is_key=False)
        check = ValueCheck(part.spec, self._value_ctx).check
        pick = cls.aggregation.check_value
        #: Checks a record before it is folded in (None: nothing to check), and a new accumulator.
        self._check_record: Callable[[Tuple], None] | None = (lambda tup: check(pick(tup))) if pick else None
        self._check = check if cls.aggregation.check_acc else None
        self._prefixes: dict[Any, bytes] = {}
        #: The reverse of ``_prefixes``: a final's key without decoding it.
        self._keys: dict[bytes, Any] = {}
        #: close time -> storage keys of the windows that close then; a heap of those times. Likewise expiry.
        self._closing: dict[int, set[bytes]] = {}
        self._close_heap: list[int] = []
        self._expiring: dict[int, set[bytes]] = {}
        self._expire_heap: list[int] = []
        #: Windows opened since the write cache was last emptied (in that generation of it), never stored: one
        #: that closes before the next checkpoint leaves the cache without a changelog record or a tombstone.
        self._fresh: set[bytes] = set()
        self._fresh_generation = part.generation
        #: The earliest close or expiry (NEVER: none); the task's stream time calls ``fire`` once it gets there.
        self.next_due = NEVER
        #: Windows open now (the gauge), and late records seen by this task.
        self.open = 0
        self.late = 0
        if not isinstance(part.backend, WindowedBackend):
            raise StateError(f"{component}: store {part.spec.name!r} must use backend='windowed'")

    # --- keys -----------------------------------------------------------------------------------
    def prefix(self, key: Any) -> bytes:
        """The storage prefix of a tuple key (cached for str and bytes keys, as KeyedState does)."""
        try:
            return self._prefixes[key]
        except (KeyError, TypeError):
            pass
        if key is None:
            raise StateError(f"{self.component}: a windowed bolt needs keyed tuples (use a fields grouping or "
                             "emit(..., key=...) upstream); this tuple has key None")
        encoded = self._part.spec.key_serde.serialize(key, self._key_ctx)
        prefix = key_prefix(encoded or b"")
        if type(key) is str or type(key) is bytes:
            if len(self._prefixes) >= self.CACHED_KEYS:
                self._prefixes.clear()
                self._keys.clear()
            self._prefixes[key] = prefix
            self._keys[prefix] = key
        return prefix

    def key_of(self, prefix: bytes) -> Any:
        """The tuple key whose storage prefix is ``prefix`` (a list decodes to a tuple, as a timer's key)."""
        try:
            return self._keys[prefix]
        except KeyError:
            pass
        key = self._part.spec.key_serde.deserialize(prefix[2:], self._key_ctx)
        return tuple(key) if type(key) is list else key

    # --- the index --------------------------------------------------------------------------------
    def track(self, close: int, skey: bytes, fresh: bool = False) -> None:
        """A window that closes at ``close`` opened; ``fresh``: it has never been stored (``drop``)."""
        if fresh:
            generation = self._part.generation
            if generation != self._fresh_generation:
                self._fresh.clear()
                self._fresh_generation = generation
            self._fresh.add(skey)
        keys = self._closing.get(close)
        if keys is None:
            keys = self._closing[close] = set()
            heapq.heappush(self._close_heap, close)
            if close < self.next_due:
                self.next_due = close
                self._clock.schedule(close)
        keys.add(skey)
        self.open += 1

    def untrack(self, close: int, skey: bytes) -> None:
        """A window merged into another before closing (sessions)."""
        keys = self._closing.get(close)
        if keys is not None and skey in keys:
            keys.discard(skey)
            self.open -= 1

    def expire_at(self, when: int, skey: bytes) -> None:
        """Delete ``skey`` once stream time reaches ``when``."""
        keys = self._expiring.get(when)
        if keys is None:
            keys = self._expiring[when] = set()
            heapq.heappush(self._expire_heap, when)
            if when < self.next_due:
                self.next_due = when
                self._clock.schedule(when)
        keys.add(skey)

    def load(self) -> None:
        """Rebuild the index from the (restored) store, whose stream time the clock already holds."""
        self._closing.clear()
        self._close_heap.clear()
        self._expiring.clear()
        self._expire_heap.clear()
        self.open = 0
        self.next_due = NEVER
        backend = self._part.backend
        assert isinstance(backend, WindowedBackend)
        now = self._clock.time
        for skey, raw in backend.windows():
            prefix, start = split_window_key(skey)
            close = self.close_time(prefix, start, raw)
            if close is None:
                continue
            if close > now:
                self.track(close, skey)
                self.reopened(prefix, start, skey)
            else:
                self.expire_at(close + self._retention, skey)

    def decode(self, raw: bytes) -> Any:
        """A stored value."""
        return self._part.spec.value_serde.deserialize(raw, self._value_ctx)

    def close_time(self, prefix: bytes, start: int, raw: bytes) -> int | None:
        """When the stored window (prefix, start) closes (``raw``: its stored value); None: the entry is not a
        window (the kind indexes it itself)."""
        raise NotImplementedError

    def reopened(self, prefix: bytes, start: int, skey: bytes) -> None:
        """A window found open by ``load`` (a kind that keeps more in memory rebuilds it here)."""

    # --- closing ----------------------------------------------------------------------------------
    def fire(self, now: int, context: Context) -> int:
        """Close the windows whose close time is at or before ``now`` (emitting finals) and delete expired ones;
        returns how many windows closed."""
        closed = 0
        heap = self._close_heap
        while heap and heap[0] <= now:
            when = heapq.heappop(heap)
            for skey in sorted(self._closing.pop(when, ())):
                closed += 1
                self.open -= 1
                self.closing(skey, when, context)
                self.retire(skey, when)
        heap = self._expire_heap
        while heap and heap[0] <= now:
            for skey in sorted(self._expiring.pop(heapq.heappop(heap), ())):
                self.expire(skey)
        self.next_due = min(self._close_heap[0] if self._close_heap else NEVER,
                            self._expire_heap[0] if self._expire_heap else NEVER)
        return closed

    def retire(self, skey: bytes, when: int) -> None:
        """Window ``skey`` closed at ``when``: delete it, or keep it ``retention`` longer."""
        if self._retention:
            self.expire_at(when + self._retention, skey)
        else:
            self.drop(skey)

    def expire(self, skey: bytes) -> None:
        """The entry ``skey`` is past its retention: delete it."""
        self.drop(skey)

    def drop(self, skey: bytes) -> None:
        """Delete ``skey``: a tombstone at the next checkpoint, or nothing at all for a window opened since the
        last one (fresh: neither the store nor the changelog has it)."""
        if skey in self._fresh and self._part.generation == self._fresh_generation:
            self._fresh.discard(skey)
            self._cache.pop(skey, None)
        else:
            self._part.delete(skey)

    def closing(self, skey: bytes, when: int, context: Context) -> None:
        """Window ``skey`` closes at ``when``: emit its final result in emit mode "final"."""
        if not self._final:
            return
        value = self.stored(skey)
        if value is MISSING:
            return
        prefix, start = split_window_key(skey)
        key = self.key_of(prefix)
        bolt = self._bolt
        bolt._current = context(key, when)
        try:
            start, end, last, acc = self.bounds(start, value)
            bolt.emit({"key": key, "start": start, "end": end, "value": self._result(acc)}, key=key, timestamp=last)
        except Exception as exc:
            callback_failed(self._policy, f"{self.component}: the final result of window [{start}, ...) of {key!r}",
                            exc)
        finally:
            bolt._current = None

    def stored(self, skey: bytes) -> Any:
        """What ``bounds`` takes for window ``skey``: its stored value (MISSING: none)."""
        return self._part.get(skey)

    def bounds(self, start: int, value: Any) -> tuple[int, int, int, Any]:
        """(start, end, the output's timestamp, accumulator) of a stored window."""
        raise NotImplementedError

    # --- records ------------------------------------------------------------------------------------
    def late_record(self, tup: Tuple) -> None:
        """Every window of ``tup`` is closed: it goes to the ``late`` stream, counted."""
        self.late += 1
        self._late_tally.count += 1
        self._bolt.emit(tup.value, key=tup.key, stream=LATE, headers=tup.headers, timestamp=tup.timestamp)

    def update(self, tup: Tuple, start: int, end: int, acc: Any) -> None:
        """Emit mode "updates": the window's new result, stamped with the record's own time."""
        self._bolt.emit({"key": tup.key, "start": start, "end": end, "value": self._result(acc)}, key=tup.key)


class FixedEngine(Engine):
    """Tumbling and hopping windows: [start, start + size), closing at start + size + grace."""

    def __init__(self, component: str, bolt: WindowedBolt, part: StorePartition, clock: StreamTime,
                 policy: ErrorPolicy, late: Tally) -> None:
        super().__init__(component, bolt, part, clock, policy, late)
        window = type(bolt).window
        assert isinstance(window, Hopping)
        self._window = window
        self._size = window.size
        self._close_after = window.size + window.grace
        self.process = self.process_tumbling if window.advance == window.size else self.process_hopping

    def close_time(self, prefix: bytes, start: int, raw: bytes) -> int:
        return start + self._close_after

    def bounds(self, start: int, value: Any) -> tuple[int, int, int, Any]:
        return start, start + self._size, start + self._size - 1, value

    def closing(self, skey: bytes, when: int, context: Context) -> None:
        """Engine.closing, lean: one final per window is the common case of a tumbling count."""
        if self._final:
            acc = self._cache.get(skey, MISSING)
            if acc is MISSING:
                acc = self._part.get(skey)
                if acc is MISSING:
                    return
            key = self.key_of(skey[:-START_BYTES])
            start = when - self._close_after
            end = start + self._size
            bolt = self._bolt
            bolt._current = context(key, when)
            try:
                bolt.emit({"key": key, "start": start, "end": end, "value": self._result(acc)}, key=key,
                          timestamp=end - 1)
            except Exception as exc:
                callback_failed(self._policy, f"{self.component}: the final result of window [{start}, {end}) of "
                                f"{key!r}", exc)
            finally:
                bolt._current = None

    def process_tumbling(self, tup: Tuple) -> None:
        """The per-record path of a tumbling window, inline: one window per record."""
        ts = tup.timestamp
        start = ts - ts % self._size  # type: ignore[operator]
        close = start + self._close_after
        if close <= self._clock.time:
            self.late_record(tup)
            return
        key = tup.key
        try:
            skey = self._prefixes[key] + pack_start(start)
        except (KeyError, TypeError):
            skey = self.prefix(key) + pack_start(start)
        cache = self._cache
        acc = cache.get(skey, MISSING)
        if acc is MISSING:  # not written since the last checkpoint: committed, or a new window (the index says)
            keys = self._closing.get(close)
            if keys is not None and skey in keys:
                acc = self._part.get(skey)
            else:
                acc = self._init()
                self.track(close, skey, fresh=True)
        if self._check_record is not None:
            self._check_record(tup)
        acc = self._add(acc, tup)
        if self._check is not None:
            self._check(acc)
        cache[skey] = acc
        if self._updates:
            self.update(tup, start, start + self._size, acc)

    def process_hopping(self, tup: Tuple) -> None:
        ts = tup.timestamp
        assert ts is not None
        now = self._clock.time
        prefix = self.prefix(tup.key)
        cache = self._cache
        late = True
        for start in self._window.starts(ts):
            close = start + self._close_after
            if close <= now:
                continue
            late = False
            skey = prefix + pack_start(start)
            acc = cache.get(skey, MISSING)
            if acc is MISSING:
                keys = self._closing.get(close)
                if keys is not None and skey in keys:
                    acc = self._part.get(skey)
                else:
                    acc = self._init()
                    self.track(close, skey, fresh=True)
            if self._check_record is not None:
                self._check_record(tup)
            acc = self._add(acc, tup)
            if self._check is not None:
                self._check(acc)
            cache[skey] = acc
            if self._updates:
                self.update(tup, start, start + self._size, acc)
        if late:
            self.late_record(tup)
