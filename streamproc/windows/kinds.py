"""The window kinds a WindowedBolt declares (``window = Tumbling(...)``): what they are, checked when declared.

Time windows follow Kafka Streams. Every one has an explicit ``grace``: a window closes once the task's
stream time reaches its exclusive end plus grace, and a record whose every window is closed is late.

- ``Tumbling(size)`` and ``Hopping(size, advance)``: [start, start + size), starts at multiples of
  ``advance`` (of ``size`` for tumbling) since the epoch; a record is in every window that covers it.
- ``Sliding(time_difference)``: Kafka Streams' SlidingWindows, [start, end] inclusive of both ends with
  end - start = time_difference; one window per distinct set of records (see streamproc.windows.sliding).
- ``Session(gap)``: [first, last] event time of a key's records, inclusive; a record within ``gap`` of a
  session (inclusive) joins it, and one that bridges two sessions merges them.

Inclusive bounds close one millisecond later than their ``end`` says (``end + 1 + grace``): that is when
Kafka Streams closes them too. Durations are ``timedelta`` or int milliseconds.

Count windows (Storm's) are per key and ignore time: ``CountTumbling(n)`` aggregates each run of n records
of a key, ``CountSliding(n, every)`` the last n records, every ``every`` records. They have no grace and
nothing is late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from streamproc.errors import TopologyError


def duration_ms(what: str, value: Any, *, zero: bool = False) -> int:
    """``value`` (timedelta or int ms) as int ms; TopologyError for anything else, negative, or 0 unless ``zero``."""
    if isinstance(value, timedelta):
        ms = value // timedelta(milliseconds=1)
        if timedelta(milliseconds=ms) != value:
            raise TopologyError(f"{what} must be a whole number of milliseconds, got {value!r}")
    elif type(value) is int:
        ms = value
    else:
        raise TopologyError(f"{what} must be a datetime.timedelta or an int of milliseconds, got {value!r}")
    if ms < 0 or (ms == 0 and not zero):
        raise TopologyError(f"{what} must be {'>= 0' if zero else '> 0'}, got {ms} ms")
    return ms


def _count(what: str, value: Any) -> int:
    if type(value) is not int or value < 1:
        raise TopologyError(f"{what} must be an int >= 1, got {value!r}")
    return value


class Window:
    """Base of the window kinds."""

    #: Whether records are windowed by event time (grace, lateness, closing by stream time).
    timed: bool = True


@dataclass(frozen=True, init=False)
class Hopping(Window):
    """Windows of ``size`` starting every ``advance``, at multiples of ``advance`` since the epoch; they overlap
    when advance < size. A window closes when stream time reaches ``start + size + grace``."""

    size: int
    advance: int
    grace: int

    def __init__(self, size: timedelta | int, advance: timedelta | int, grace: timedelta | int) -> None:
        name = type(self).__name__
        object.__setattr__(self, "size", duration_ms(f"{name} size", size))
        object.__setattr__(self, "advance", duration_ms(f"{name} advance", advance))
        object.__setattr__(self, "grace", duration_ms(f"{name} grace", grace, zero=True))
        if self.advance > self.size:
            raise TopologyError(f"{name}: advance ({self.advance} ms) must not exceed size ({self.size} ms); "
                                "records between windows would belong to none")

    def starts(self, ts: int) -> range:
        """The starts of the windows that cover ``ts``, in order (Kafka Streams' TimeWindows.windowsFor)."""
        first = max(0, ts - self.size + self.advance)
        first -= first % self.advance
        return range(first, ts + 1, self.advance)


class Tumbling(Hopping):
    """Back-to-back windows of ``size`` (a Hopping window whose advance is its size): each record is in one."""

    def __init__(self, size: timedelta | int, grace: timedelta | int) -> None:
        super().__init__(size, size, grace)

    def __repr__(self) -> str:
        return f"Tumbling(size={self.size}, grace={self.grace})"


@dataclass(frozen=True, init=False)
class Sliding(Window):
    """Kafka Streams' SlidingWindows: [start, start + time_difference], both ends inclusive, one window for each
    distinct set of a key's records no further apart than ``time_difference``."""

    time_difference: int
    grace: int

    def __init__(self, time_difference: timedelta | int, grace: timedelta | int) -> None:
        object.__setattr__(self, "time_difference", duration_ms("Sliding time_difference", time_difference))
        object.__setattr__(self, "grace", duration_ms("Sliding grace", grace, zero=True))


@dataclass(frozen=True, init=False)
class Session(Window):
    """A key's records no more than ``gap`` apart (inclusive) form one session [first, last]; it closes when
    stream time passes last + gap + grace."""

    gap: int
    grace: int

    def __init__(self, gap: timedelta | int, grace: timedelta | int) -> None:
        object.__setattr__(self, "gap", duration_ms("Session gap", gap))
        object.__setattr__(self, "grace", duration_ms("Session grace", grace, zero=True))


@dataclass(frozen=True)
class CountTumbling(Window):
    """Each run of ``n`` records of a key is one window, emitted when its n-th record arrives."""

    n: int
    timed = False

    def __post_init__(self) -> None:
        _count("CountTumbling n", self.n)


@dataclass(frozen=True)
class CountSliding(Window):
    """The last ``n`` records of a key, emitted after every ``every`` records of it (fewer than n at first)."""

    n: int
    every: int = 1
    timed = False

    def __post_init__(self) -> None:
        _count("CountSliding n", self.n)
        _count("CountSliding every", self.every)
