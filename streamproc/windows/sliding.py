"""Sliding windows: Kafka Streams' SlidingWindows, by the set of windows its records define.

With ``d`` the time difference, windows are [start, start + d], both ends inclusive, and a key's records
define them (as in Kafka Streams): each record at ``t`` defines its *left* window [t - d, t] ([0, d] for
t < d, as Kafka's early records), and its *right* window [t + 1, t + 1 + d] when that holds a record. So
there is one window per distinct set of records no further apart than d, and no empty one.

A window closes once stream time reaches end + 1 + grace, and emits then (emit mode "final") the
aggregation of every record in it that arrived before it closed, in event-time order (equal times in
arrival order). A window defined only after it closed (by an out-of-order record) is never emitted; a
record is late when every window that could hold it is closed (t + d + grace < stream time).

The store keeps the key's *records*, not the windows: the entry (key, t) holds the values of the key's
records at time t, in arrival order, until no window they define or belong to is open (t + d + 2 + grace,
plus retention). Windows are derived from them: in memory each key's record times and open windows, both
rebuilt by ``load`` from the records, as the other kinds rebuild their index. Aggregating a window folds
its records (so a record costs the windows it changes, not one accumulator update each): "updates" emits
every window a record changed, recomputed.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

from streamproc.components import Tuple
from streamproc.metrics import Tally
from streamproc.runtime.clock import StreamTime
from streamproc.serde.base import SerdeContext
from streamproc.state.partition import MISSING, StorePartition
from streamproc.state.values import ValueCheck
from streamproc.state.windowed import pack_start, split_window_key
from streamproc.windows.engine import Context, Engine
from streamproc.windows.kinds import Sliding

if TYPE_CHECKING:
    from streamproc.runtime.policy import ErrorPolicy
    from streamproc.windows.bolt import WindowedBolt


class SlidingEngine(Engine):
    def __init__(self, component: str, bolt: WindowedBolt, part: StorePartition, clock: StreamTime,
                 policy: ErrorPolicy, late: Tally) -> None:
        super().__init__(component, bolt, part, clock, policy, late)
        window = type(bolt).window
        assert isinstance(window, Sliding)
        self._d = window.time_difference
        self._grace = window.grace
        #: key prefix -> the times of its stored records (sorted, distinct); -> the starts of its open windows.
        self._times: dict[bytes, list[int]] = {}
        self._windows: dict[bytes, set[int]] = {}
        self._check_value = ValueCheck(part.spec, SerdeContext(part.changelog, is_key=False)).check

    # --- windows a key's records define -------------------------------------------------------------
    def _left(self, t: int) -> int:
        return t - self._d if t >= self._d else 0

    def _defined(self, times: list[int], t: int) -> list[int]:
        """Starts of the windows the record time ``t`` (in ``times``) defines, with those of its predecessor."""
        d = self._d
        starts = [self._left(t)]
        i = bisect.bisect_right(times, t)
        if i < len(times) and times[i] <= t + 1 + d:
            starts.append(t + 1)
        j = bisect.bisect_left(times, t) - 1
        if j >= 0 and t <= times[j] + 1 + d:
            starts.append(times[j] + 1)
        return starts

    def _open(self, prefix: bytes, start: int) -> bool:
        """Open window ``start`` of the key if it is not closed already; True when it is open now."""
        close = start + self._d + 1 + self._grace
        if close <= self._clock.time:
            return False
        starts = self._windows.setdefault(prefix, set())
        if start not in starts:
            starts.add(start)
            self.track(close, prefix + pack_start(start))
        return True

    def _fold(self, prefix: bytes, start: int, tup: Tuple | None = None) -> Any:
        """The accumulator of window ``start`` of the key, from its records (``tup``: the record being processed,
        for the fields of the tuples folded)."""
        times = self._times.get(prefix, [])
        acc = self._init()
        part = self._part
        key = tup.key if tup is not None else None
        for i in range(bisect.bisect_left(times, start), bisect.bisect_right(times, start + self._d)):
            t = times[i]
            for value in part.get(prefix + pack_start(t)):
                acc = self._add(acc, Tuple(key, value, "", 0, 0, t, None, "default", self.component))
        return acc

    # --- records -------------------------------------------------------------------------------------
    def process(self, tup: Tuple) -> None:
        ts = tup.timestamp
        assert ts is not None
        d = self._d
        if ts + d + self._grace < self._clock.time:
            self.late_record(tup)
            return
        prefix = self.prefix(tup.key)
        self._check_value(tup.value)
        if self._check_record is not None:
            self._check_record(tup)
        rkey = prefix + pack_start(ts)
        values = self._part.get(rkey)
        times = self._times.setdefault(prefix, [])
        if values is MISSING:
            values = []
            bisect.insort(times, ts)
            self.expire_at(ts + d + 2 + self._grace + self._retention, rkey)
        values.append(tup.value)
        self._part.put(rkey, values)
        changed = {s for s in self._windows.get(prefix, ()) if s <= ts <= s + d}
        changed.update(s for s in self._defined(times, ts) if self._open(prefix, s))
        if self._updates:
            for start in sorted(changed):
                acc = self._fold(prefix, start, tup)
                if self._check is not None:
                    self._check(acc)
                self.update(tup, start, start + d, acc)

    # --- closing and restoring ---------------------------------------------------------------------
    def stored(self, skey: bytes) -> Any:
        prefix, start = split_window_key(skey)
        return self._fold(prefix, start)

    def bounds(self, start: int, value: Any) -> tuple[int, int, int, Any]:
        return start, start + self._d, start + self._d, value

    def closing(self, skey: bytes, when: int, context: Context) -> None:
        super().closing(skey, when, context)
        prefix, start = split_window_key(skey)
        starts = self._windows.get(prefix)
        if starts is not None:
            starts.discard(start)
            if not starts:
                del self._windows[prefix]

    def retire(self, skey: bytes, when: int) -> None:
        """Windows are not stored: their records expire on their own."""

    def expire(self, skey: bytes) -> None:
        super().expire(skey)
        prefix, t = split_window_key(skey)
        times = self._times.get(prefix)
        if times is not None:
            i = bisect.bisect_left(times, t)
            if i < len(times) and times[i] == t:
                del times[i]
            if not times:
                del self._times[prefix]

    def load(self) -> None:
        """Rebuild record times, their expiry and the open windows from the stored records."""
        self._times.clear()
        self._windows.clear()
        super().load()  # calls close_time per record: registers its expiry
        for prefix, times in self._times.items():
            for t in times:
                for start in self._defined(times, t):
                    self._open(prefix, start)

    def close_time(self, prefix: bytes, start: int, raw: bytes) -> int | None:
        """(For a stored record, at ``load``:) note its time and expiry; records never "close" themselves."""
        self._times.setdefault(prefix, []).append(start)  # the scan is in (key, time) order: stays sorted
        self.expire_at(start + self._d + 2 + self._grace + self._retention, prefix + pack_start(start))
        return None
