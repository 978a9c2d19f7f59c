"""Session windows: a key's records no more than ``gap`` apart form one session, as in Kafka Streams.

A session is [first, last] event time, both inclusive, stored under (key, first) with the value
``[last, accumulator]``. A record at ``ts`` joins every open session of its key that ends at or after
``ts - gap`` and starts at or before ``ts + gap``; when it joins several (it bridges them) they merge
into one, their accumulators joined with the aggregation's ``merge`` in start order, and the merged-away
entries are deleted. A session closes once stream time passes ``last + gap + grace`` (Kafka Streams:
``end < streamTime - grace - gap``), and a record is late when the session it would form is already
closed then. Only open sessions take part in merging: a closed session is final.

The open sessions of each key are also kept in memory (start, last), so that finding a record's sessions
costs no store scan; ``load`` rebuilds them from the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamproc.components import Tuple
from streamproc.errors import TopologyError
from streamproc.metrics import Tally
from streamproc.runtime.clock import StreamTime
from streamproc.runtime.timers import callback_failed
from streamproc.state.partition import MISSING, StorePartition
from streamproc.state.windowed import START_BYTES, pack_start
from streamproc.windows.engine import Context, Engine
from streamproc.windows.kinds import Session

if TYPE_CHECKING:
    from streamproc.runtime.policy import ErrorPolicy
    from streamproc.windows.bolt import WindowedBolt


class SessionEngine(Engine):
    def __init__(self, component: str, bolt: WindowedBolt, part: StorePartition, clock: StreamTime,
                 policy: ErrorPolicy, late: Tally) -> None:
        super().__init__(component, bolt, part, clock, policy, late)
        window = type(bolt).window
        assert isinstance(window, Session)
        merge = type(bolt).aggregation.merge
        if merge is None:
            raise TopologyError(f"{component}: Session windows merge sessions; the aggregation needs a merge")
        self._merge = merge
        self._gap = window.gap
        #: A session [start, last] closes at last + this.
        self._close_after = window.gap + window.grace + 1
        #: key prefix -> open sessions of the key, as [start, last].
        self._sessions: dict[bytes, list[list[int]]] = {}

    def close_time(self, prefix: bytes, start: int, raw: bytes) -> int:
        return int(self.decode(raw)[0]) + self._close_after

    def reopened(self, prefix: bytes, start: int, skey: bytes) -> None:
        last = self._part.get(skey)[0]
        self._sessions.setdefault(prefix, []).append([start, last])

    def bounds(self, start: int, value: Any) -> tuple[int, int, int, Any]:
        return start, value[0], value[0], value[1]

    def load(self) -> None:
        self._sessions.clear()
        super().load()

    def closing(self, skey: bytes, when: int, context: Context) -> None:
        """Emit the final (mode "final") and forget the session; Engine.closing, lean: a clickstream of short
        sessions closes one at nearly every record."""
        prefix = skey[:-START_BYTES]
        start = int.from_bytes(skey[-START_BYTES:], "big")
        sessions = self._sessions.get(prefix)
        if sessions is not None:
            sessions[:] = [s for s in sessions if s[0] != start]
            if not sessions:
                del self._sessions[prefix]
        if not self._final:
            return
        value = self._cache.get(skey, MISSING)
        if value is MISSING:
            value = self._part.get(skey)
            if value is MISSING:
                return
        key = self.key_of(prefix)
        last = value[0]
        bolt = self._bolt
        bolt._current = context(key, when)
        try:
            bolt.emit({"key": key, "start": start, "end": last, "value": self._result(value[1])}, key=key,
                      timestamp=last)
        except Exception as exc:
            callback_failed(self._policy, f"{self.component}: the final result of session [{start}, {last}] of "
                            f"{key!r}", exc)
        finally:
            bolt._current = None

    def _is_fresh(self, skey: bytes, start: int, joined: list[list[int]]) -> bool:
        """Whether the session stored at ``skey`` after this record has never been stored (Engine.drop): it is a
        fresh one kept, or a new start with nothing in the write cache. Without retention, the store holds open
        sessions only, and a start deleted since the last checkpoint is in the write cache as a delete."""
        if self._retention:
            return False
        if any(s[0] == start for s in joined):
            return skey in self._fresh and self._part.generation == self._fresh_generation
        return self._cache.get(skey, MISSING) is MISSING

    def process(self, tup: Tuple) -> None:
        ts = tup.timestamp
        assert ts is not None
        prefix = self.prefix(tup.key)
        gap = self._gap
        sessions = self._sessions.get(prefix)
        start = last = ts
        if sessions:
            joined = [s for s in sessions if s[1] >= ts - gap and s[0] <= ts + gap]
            if len(joined) > 1:
                joined.sort()
            for s in joined:
                if s[0] < start:
                    start = s[0]
                if s[1] > last:
                    last = s[1]
        else:
            joined = []
        close = last + self._close_after
        if close <= self._clock.time:
            self.late_record(tup)
            return
        if self._check_record is not None:
            self._check_record(tup)
        part = self._part
        # Fold first, change the store after: a record that fails (a value the store cannot keep) changes nothing.
        acc: Any = MISSING
        for s in joined:
            stored = part.get(prefix + pack_start(s[0]))
            acc = stored[1] if acc is MISSING else self._merge(acc, stored[1])
        if acc is MISSING:
            acc = self._init()
        acc = self._add(acc, tup)
        if self._check is not None:
            self._check(acc)
        skey = prefix + pack_start(start)
        fresh = self._is_fresh(skey, start, joined)
        for s in joined:
            old_key = prefix + pack_start(s[0])
            self.untrack(s[1] + self._close_after, old_key)
            if s[0] != start:
                self.drop(old_key)
            assert sessions is not None
            sessions.remove(s)
        part.put(skey, [last, acc])
        self.track(close, skey, fresh)
        self._sessions.setdefault(prefix, []).append([start, last])
        if self._updates:
            self.update(tup, start, last, acc)
