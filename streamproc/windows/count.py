"""Storm's count windows: per key, over the last n records, whatever their event time.

Each key has one entry, under (key, 0). Nothing closes with stream time, nothing is late and nothing
expires: a window is emitted from ``process`` when its record arrives, so its output descends from that
record like any other emission. ``start`` and ``end`` of the output are the smallest event time in the
window and the largest plus one.

- CountTumbling(n): the entry is ``[records so far, accumulator, min time, max time]``; the n-th record
  emits the result and deletes the entry.
- CountSliding(n, every): the entry is ``[records seen, [[time, value], ...] (the last n)]``; every
  ``every``-th record of the key emits the aggregation of those values (fewer than n at first, as Storm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamproc.components import Tuple
from streamproc.metrics import Tally
from streamproc.runtime.clock import StreamTime
from streamproc.serde.base import SerdeContext
from streamproc.state.partition import MISSING, StorePartition
from streamproc.state.values import ValueCheck
from streamproc.state.windowed import pack_start
from streamproc.windows.engine import Engine
from streamproc.windows.kinds import CountSliding, CountTumbling

if TYPE_CHECKING:
    from streamproc.runtime.policy import ErrorPolicy
    from streamproc.windows.bolt import WindowedBolt

_ZERO = pack_start(0)


class CountEngine(Engine):
    def __init__(self, component: str, bolt: WindowedBolt, part: StorePartition, clock: StreamTime,
                 policy: ErrorPolicy, late: Tally) -> None:
        super().__init__(component, bolt, part, clock, policy, late)
        window = type(bolt).window
        assert isinstance(window, (CountTumbling, CountSliding))
        self._n = window.n
        self._every = window.every if isinstance(window, CountSliding) else 0
        self.process = self.process_sliding if self._every else self.process_tumbling
        self._check_value = ValueCheck(part.spec, SerdeContext(part.changelog, is_key=False)).check

    def load(self) -> None:
        """Nothing to index: count windows do not close with time."""

    def close_time(self, prefix: bytes, start: int, raw: bytes) -> int:
        raise AssertionError("count windows do not close with time")

    def _emit(self, tup: Tuple, first: int, last: int, acc: Any) -> None:
        self._bolt.emit({"key": tup.key, "start": first, "end": last + 1, "value": self._result(acc)}, key=tup.key)

    def process_tumbling(self, tup: Tuple) -> None:
        ts = tup.timestamp
        assert ts is not None
        skey = self.prefix(tup.key) + _ZERO
        entry = self._part.get(skey)
        if entry is MISSING:
            entry = [0, self._init(), ts, ts]
        if self._check_record is not None:
            self._check_record(tup)
        acc = self._add(entry[1], tup)
        if self._check is not None:
            self._check(acc)
        entry[0] += 1
        entry[1] = acc
        entry[2] = min(entry[2], ts)
        entry[3] = max(entry[3], ts)
        if entry[0] >= self._n:
            self._part.delete(skey)
            self._emit(tup, entry[2], entry[3], entry[1])
        else:
            self._part.put(skey, entry)

    def process_sliding(self, tup: Tuple) -> None:
        ts = tup.timestamp
        assert ts is not None
        skey = self.prefix(tup.key) + _ZERO
        entry = self._part.get(skey)
        if entry is MISSING:
            entry = [0, []]
        self._check_value(tup.value)  # kept as it is in the buffer
        entry[0] += 1
        buffer: list[list[Any]] = entry[1]
        buffer.append([ts, tup.value])
        if len(buffer) > self._n:
            del buffer[0]
        self._part.put(skey, entry)
        if entry[0] % self._every == 0:
            acc = self._init()
            for when, value in buffer:
                acc = self._add(acc, Tuple(tup.key, value, tup.topic, tup.partition, tup.offset, when, None,
                                           tup.stream, tup.source))
            self._emit(tup, min(b[0] for b in buffer), max(b[0] for b in buffer), acc)
