"""An independent, brute-force oracle for windowed aggregation: what the final results must be.

It knows nothing of streamproc.windows: it replays a list of records in arrival order with the
definitions written out as plainly as possible (every window a record belongs to is enumerated,
every window's content is a list of the records in it), so that a test can compare what a
WindowedBolt emits against it. Speed does not matter here; obviousness does.

Rules, shared by every time-window kind (Kafka Streams' semantics):

- **Stream time** is the highest event time seen so far, the current record included.
- A window accepts a record while it is **open**: ``end + grace > stream time`` at the record's
  arrival, where ``end`` is the window's exclusive end. It **closes** (emits its final result,
  once) when ``end + grace <= stream time``; stream time never goes back, so a closed window
  stays closed.
- A record is **late** when every window it belongs to is closed at its arrival; it changes
  nothing and goes to the late stream.

Window kinds and their reported bounds ``(key, start, end)``:

- tumbling and hopping: ``[start, end)``, start a multiple of ``advance`` and >= 0.
- sliding (Kafka Streams ``SlidingWindows``): ``[start, end]`` with ``end = start + time_difference``,
  both inclusive, so the exclusive end is ``end + 1``. The windows of a key are the left window
  ``[t - d, t]`` of every accepted record ``t`` (``[0, d]`` when ``t < d``, as Kafka Streams) and
  the right window ``[t + 1, t + 1 + d]`` of every accepted record with another one in it. A window
  that becomes defined while it is already closed is never created.
- session: ``[first event, last event]``, both inclusive, so the exclusive end is ``last + gap + 1``:
  a session closes when ``last + gap + grace < stream time``. A record within ``gap`` (inclusive) of
  an open session of its key joins it; one that bridges several open sessions merges them. A closed
  session is final: it never merges again (a record near it starts a session of its own).
- count windows (``count_tumbling``, ``count_sliding``): per key, in arrival order, with no time, grace or
  lateness; bounds are positions in the key's sequence of records, ``[first, last + 1)`` (streamproc reports
  the window's event-time span instead; tests/windows/test_oracle_agreement.py converts).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

WindowId = tuple[Any, int, int]  # (key, start, end) as the kind reports it


@dataclass(frozen=True)
class Event:
    """One input record: its key, value and event time (ms)."""

    key: Hashable
    value: Any
    time: int


@dataclass
class Outcome:
    """What a windowed aggregation must produce for some input.

    ``finals``: every window closed by the end, with its records in arrival order. ``still_open``: windows
    with records that had not closed by the end (no final result yet). ``late``: the late records, in
    arrival order. ``stream_time``: the stream time at the end."""

    finals: dict[WindowId, list[Event]] = field(default_factory=dict)
    still_open: dict[WindowId, list[Event]] = field(default_factory=dict)
    late: list[Event] = field(default_factory=list)
    stream_time: int = -1

    def aggregate(self, fn: Callable[[list[Event]], Any]) -> dict[WindowId, Any]:
        """The final result of every closed window: ``fn`` over its records."""
        return {window: fn(records) for window, records in self.finals.items()}


def events(rows: Iterable[tuple[Hashable, Any, int]]) -> list[Event]:
    """``[(key, value, time), ...]`` as Events."""
    return [Event(key, value, time) for key, value, time in rows]


def _finish(contents: dict[WindowId, list[Event]], exclusive_end: Callable[[WindowId], int], grace: int,
            late: list[Event], stream_time: int) -> Outcome:
    outcome = Outcome(late=late, stream_time=stream_time)
    for window, records in sorted(contents.items(), key=lambda item: (item[0][1], item[0][2], repr(item[0][0]))):
        closed = exclusive_end(window) + grace <= stream_time
        (outcome.finals if closed else outcome.still_open)[window] = records
    return outcome


def hopping(records: Sequence[Event], size: int, advance: int, grace: int, advance_to: int = -1) -> Outcome:
    """Hopping windows ``[k * advance, k * advance + size)``. ``advance_to``: a stream time the input's is
    moved to at the end (as idle advance or a later record of another key would), if higher."""
    contents: dict[WindowId, list[Event]] = {}
    late: list[Event] = []
    stream_time = -1
    for record in records:
        stream_time = max(stream_time, record.time)
        first = max(0, (record.time - size) // advance * advance)  # an advance below the first window with it
        starts = [s for s in range(first, record.time + 1, advance) if s <= record.time < s + size]
        open_starts = [s for s in starts if s + size + grace > stream_time]
        if not open_starts:
            late.append(record)
        for start in open_starts:
            contents.setdefault((record.key, start, start + size), []).append(record)
    return _finish(contents, lambda w: w[2], grace, late, max(stream_time, advance_to))


def tumbling(records: Sequence[Event], size: int, grace: int, advance_to: int = -1) -> Outcome:
    """Tumbling windows: hopping windows whose advance is their size."""
    return hopping(records, size, size, grace, advance_to)


def sliding(records: Sequence[Event], time_difference: int, grace: int, advance_to: int = -1) -> Outcome:
    """Kafka Streams' sliding windows (see the module's documentation for the definition)."""
    d = time_difference
    contents: dict[WindowId, list[Event]] = {}
    accepted: dict[Hashable, list[Event]] = {}
    late: list[Event] = []
    stream_time = -1

    def is_open(start: int) -> bool:
        return start + d + 1 + grace > stream_time

    for record in records:
        stream_time = max(stream_time, record.time)
        if record.time + d + 1 + grace <= stream_time:  # even [t, t + d], its last window, is closed
            late.append(record)
            continue
        mine = accepted.setdefault(record.key, [])
        mine.append(record)
        times = [r.time for r in mine]
        defined = {max(0, t - d) for t in times}
        defined |= {t + 1 for t in times if any(t < u <= t + 1 + d for u in times)}
        for start in sorted(defined):
            window = (record.key, start, start + d)
            if not is_open(start):
                continue
            if window not in contents:
                contents[window] = [r for r in mine if start <= r.time <= start + d]
            elif start <= record.time <= start + d:
                contents[window].append(record)
    return _finish(contents, lambda w: w[2] + 1, grace, late, max(stream_time, advance_to))


@dataclass
class _Session:
    start: int
    end: int
    records: list[Event]


def session(records: Sequence[Event], gap: int, grace: int, advance_to: int = -1) -> Outcome:
    """Session windows per key (see the module's documentation for the definition)."""
    open_sessions: dict[Hashable, list[_Session]] = {}
    contents: dict[WindowId, list[Event]] = {}
    late: list[Event] = []
    stream_time = -1

    def closed(s: _Session) -> bool:
        return s.end + gap + 1 + grace <= stream_time

    for record in records:
        stream_time = max(stream_time, record.time)
        for key, sessions in open_sessions.items():  # close what stream time has passed: final, never merged
            for s in [s for s in sessions if closed(s)]:
                sessions.remove(s)
                contents[(key, s.start, s.end)] = s.records
        sessions = open_sessions.setdefault(record.key, [])
        near = [s for s in sessions if s.start - gap <= record.time <= s.end + gap]
        merged = _Session(min([record.time] + [s.start for s in near]), max([record.time] + [s.end for s in near]),
                          [r for s in near for r in s.records] + [record])
        if closed(merged):
            late.append(record)
            continue
        for s in near:
            sessions.remove(s)
        sessions.append(merged)
    for key, sessions in open_sessions.items():
        for s in sessions:
            contents[(key, s.start, s.end)] = s.records
    return _finish(contents, lambda w: w[2] + gap + 1, grace, late, max(stream_time, advance_to))


def count_tumbling(records: Sequence[Event], n: int) -> Outcome:
    """Every ``n`` records of a key (arrival order) are a window; a window not yet full stays open."""
    seen: dict[Hashable, list[Event]] = {}
    outcome = Outcome()
    for record in records:
        outcome.stream_time = max(outcome.stream_time, record.time)
        mine = seen.setdefault(record.key, [])
        mine.append(record)
        if len(mine) % n == 0:
            outcome.finals[(record.key, len(mine) - n, len(mine))] = mine[-n:]
    for key, mine in seen.items():
        if len(mine) % n:
            first = len(mine) - len(mine) % n
            outcome.still_open[(key, first, len(mine))] = mine[first:]
    return outcome


def count_sliding(records: Sequence[Event], n: int, every: int = 1) -> Outcome:
    """At every ``every``-th record of a key, a window of its last ``n`` records (fewer at the start)."""
    seen: dict[Hashable, list[Event]] = {}
    outcome = Outcome()
    for record in records:
        outcome.stream_time = max(outcome.stream_time, record.time)
        mine = seen.setdefault(record.key, [])
        mine.append(record)
        if len(mine) % every == 0:
            first = max(0, len(mine) - n)
            outcome.finals[(record.key, first, len(mine))] = mine[first:]
    return outcome
