"""Stream time: how far event time has got in one task, and the guard against records from the future.

A record's event time is its Kafka timestamp, or what the spout's extractor returns. A task's
stream time is the highest event time it has seen on any of its inputs; it never goes back. It is
committed under a reserved key of every store of the task (with the state it belongs to) and read
back after a restore, so a restart continues from where the last checkpoint left it. A task with no
store keeps it in memory only: after a restart it starts again from the first record it reads.

One record may move stream time at most ``max_future_skew`` ahead of the wall clock; a record
beyond that (an upstream clock bug) follows the error policy instead of closing every window and
firing every timer of its task at once.

The readers do the common case inline (``time < ts < limit``: stream time moves, nothing else
happens); ``advance`` is the rare path, taken when a record may be from the future or timers are due.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from streamproc.errors import FutureTimestampError, TimestampError
from streamproc.state.store import reserved_key

#: A framework entry of every store of a task: its committed stream time, as decimal ms.
STREAM_TIME_KEY = reserved_key("streamproc.stream-time")
DAY_MS = 86_400_000
#: Stream time before the task has seen any record.
NO_TIME = -1
NEVER = 1 << 63

WallClock = Callable[[], int]


def system_wall_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class TimeConfig:
    """How a worker (or the test driver) keeps time."""

    #: Wall-clock time in epoch ms; the test driver passes a clock it controls.
    wall: WallClock = system_wall_ms
    #: How far one record may move stream time ahead of the wall clock.
    max_future_skew_ms: int = DAY_MS
    #: Idle advance: after this long with no input, stream time moves with the wall clock (None: off).
    idle_advance_ms: int | None = None
    #: Told about every record refused for being too far in the future (the metric).
    on_future: Callable[[], None] | None = None


class StreamTime:
    """One task's stream time. ``fire(before, now)`` runs the task's event-time timers due at ``now``
    (``before``: stream time until then)."""

    __slots__ = ("_ceiling", "_config", "_fire", "committed", "future", "limit", "next_due", "time")

    def __init__(self, config: TimeConfig, fire: Callable[[int, int], None] | None = None) -> None:
        self._config = config
        self._fire = fire
        self.time = NO_TIME
        #: The value last committed (or restored): a checkpoint writes stream time only when it moved.
        self.committed = NO_TIME
        #: The earliest event-time timer of the task (NEVER: none).
        self.next_due = NEVER
        #: Wall clock + skew as last read: a record below it needs no new reading of the clock.
        self._ceiling = config.wall() + config.max_future_skew_ms
        #: Below this, moving stream time is a plain assignment (the readers' inline path).
        self.limit = min(self._ceiling, self.next_due)
        #: Records refused for being too far ahead of the wall clock.
        self.future = 0

    def restore(self, committed: int) -> None:
        self.time = self.committed = max(self.time, committed)

    def advance(self, ts: int) -> None:
        """Move stream time to ``ts`` (> time): check the wall-clock bound, fire due timers."""
        if ts >= self._ceiling:
            self._ceiling = self._config.wall() + self._config.max_future_skew_ms
            if ts > self._ceiling:
                self.future += 1
                if self._config.on_future is not None:
                    self._config.on_future()
                skew = self._config.max_future_skew_ms
                raise FutureTimestampError(
                    f"event time {ts} is {ts - self._ceiling + skew} ms ahead of the wall clock, more than the "
                    f"{skew} ms allowed (--max-future-skew); an upstream clock is probably wrong")
        before, self.time = self.time, ts
        if ts >= self.next_due and self._fire is not None:
            self._fire(before, ts)
        self.limit = min(self._ceiling, self.next_due)

    def schedule(self, due: int) -> None:
        """An event-time timer at ``due`` exists (fires once stream time reaches it)."""
        if due < self.next_due:
            self.next_due = due
            self.limit = min(self._ceiling, due)

    def set_next_due(self, due: int) -> None:
        self.next_due = due
        self.limit = min(self._ceiling, due)

    def encode(self) -> bytes:
        return str(self.time).encode()

    @staticmethod
    def decode(raw: bytes | None) -> int:
        return int(raw) if raw else NO_TIME


def check_timestamp(ts: int) -> None:
    """Raise for a record whose timestamp is unusable (called only when ``ts`` did not move stream time)."""
    if ts < 0:
        raise TimestampError(f"record has no usable timestamp ({ts}); give the spout a timestamp= extractor, or "
                             "fix the producer (Kafka timestamps are ms since the epoch, >= 0)")


def extract(fn: Callable[[object, object, int], int], key: object, value: object, kafka_ts: int) -> int:
    """Call a user extractor; a failure or a result that is not a non-negative int is a TimestampError."""
    try:
        ts = fn(key, value, kafka_ts)
    except Exception as exc:
        raise TimestampError(f"timestamp extractor {getattr(fn, '__name__', fn)!r} failed: "
                             f"{type(exc).__name__}: {exc}") from exc
    if type(ts) is not int or ts < 0:
        raise TimestampError(f"timestamp extractor {getattr(fn, '__name__', fn)!r} returned {ts!r}; it must return "
                             "event time as an int of ms since the epoch, >= 0")
    return ts
