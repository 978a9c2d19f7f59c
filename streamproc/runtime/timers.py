"""Keyed timers: a bolt asks to be called back for a key at an event time or a wall-clock time.

Timers are state. Each timer is a framework entry of the bolt's first store, under a key ordered by
(kind, component, time, key), so the due ones are a range scan from the start and the first one is
the next due time. Scheduling and firing (which deletes the entry) are writes of the write cache:
they reach the store and the changelog in the same checkpoint as whatever the callback wrote and
emitted. A crash before that checkpoint leaves the timer in place, and it fires again after the
restore: each timer fires once per committed state (at-least-once in effect; once under exactly-once).

The same (time, key) scheduled twice is one timer. A key may have timers at several times.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from streamproc.errors import ProcessingError, StateError, TimerFailed
from streamproc.serde.base import SerdeContext
from streamproc.state.partition import StorePartition, prefix_end
from streamproc.state.store import reserved_key

if TYPE_CHECKING:
    from streamproc.components import Bolt, CallbackContext
    from streamproc.runtime.policy import ErrorPolicy

log = logging.getLogger(__name__)

TimerKind = Literal["event", "wall"]
EVENT: TimerKind = "event"
WALL: TimerKind = "wall"
NEVER = 1 << 63
_WHEN = struct.Struct(">Q")
#: Rounds of firing at one time before giving up: a callback that keeps scheduling at or before now loops.
MAX_ROUNDS = 1000
_CURRENT: Any = object()


class TimerService:
    """The timers of one bolt in one task."""

    __slots__ = ("_bolt", "_component", "_ctx", "_part", "_policy", "_prefix", "next_due", "on_event_timer")

    def __init__(self, component: str, bolt: Bolt, part: StorePartition, policy: ErrorPolicy) -> None:
        self._component = component
        self._bolt = bolt
        self._part = part
        self._policy = policy
        self._ctx = SerdeContext(part.changelog, is_key=True)
        self._prefix: dict[str, bytes] = {
            kind: reserved_key(f"streamproc.timer.{kind}.{component}\x00") for kind in (EVENT, WALL)
        }
        #: The earliest timer of each kind (NEVER: none). May be early after a delete: firing then finds nothing.
        self.next_due: dict[str, int] = {EVENT: NEVER, WALL: NEVER}
        #: Told the time of every event-time timer scheduled (the task's stream time fires at the earliest).
        self.on_event_timer: Callable[[int], None] | None = None

    def load(self) -> None:
        """Read the earliest timers from the (restored) store."""
        for kind in (EVENT, WALL):
            self.next_due[kind] = self._first(kind)

    def _first(self, kind: str) -> int:
        prefix = self._prefix[kind]
        for storage_key, _ in self._part.iter_raw(prefix, prefix_end(prefix) or b"\xff" * 8):
            return int(_WHEN.unpack_from(storage_key, len(prefix))[0])
        return NEVER

    def _storage_key(self, kind: str, when: int, key: Any) -> bytes:
        if type(when) is not int or not 0 <= when < NEVER:
            raise StateError(f"{self._component}: a timer's time is an int of ms since the epoch, >= 0; got {when!r}")
        if key is None:
            raise StateError(f"{self._component}: a timer needs a key; the current tuple has none, pass key=...")
        encoded = self._part.spec.key_serde.serialize(key, self._ctx)
        return self._prefix[kind] + _WHEN.pack(when) + (encoded or b"")

    def schedule(self, kind: str, when: int, key: Any) -> None:
        self._part.put_raw(self._storage_key(kind, when, key), b"1")
        if when < self.next_due[kind]:
            self.next_due[kind] = when
        if kind == EVENT and self.on_event_timer is not None:
            self.on_event_timer(when)

    def delete(self, kind: str, when: int, key: Any) -> None:
        self._part.put_raw(self._storage_key(kind, when, key), None)

    def pending(self) -> int:
        """Timers of both kinds (a scan: for gauges and tests, not the hot path)."""
        count = 0
        for prefix in self._prefix.values():
            count += sum(1 for _ in self._part.iter_raw(prefix, prefix_end(prefix) or b"\xff" * 8))
        return count

    def _due(self, kind: str, now: int) -> list[tuple[bytes, int, Any]]:
        prefix = self._prefix[kind]
        deserialize = self._part.spec.key_serde.deserialize
        found = []
        for storage_key, _ in self._part.iter_raw(prefix, prefix + _WHEN.pack(now + 1)):
            when = int(_WHEN.unpack_from(storage_key, len(prefix))[0])
            key = deserialize(storage_key[len(prefix) + _WHEN.size:], self._ctx)
            found.append((storage_key, when, tuple(key) if type(key) is list else key))
        return found

    def fire(self, kind: TimerKind, now: int, context: Callable[[Any, int], CallbackContext]) -> int:
        """Run ``on_timer`` for every timer of ``kind`` due at ``now``, in (time, key) order, each with the
        context ``context(key, when)`` gives; returns how many fired."""
        if self.next_due[kind] > now:
            return 0
        fired = 0
        bolt = self._bolt
        for _ in range(MAX_ROUNDS):
            due = self._due(kind, now)
            if not due:
                break
            for storage_key, when, key in due:
                self._part.put_raw(storage_key, None)
                bolt._current = context(key, when)
                try:
                    bolt.on_timer(key, when, kind)
                except Exception as exc:
                    callback_failed(self._policy, f"{self._component}.on_timer({key!r}, {when}, {kind!r})", exc)
                finally:
                    bolt._current = None
                fired += 1
        else:
            raise TimerFailed(f"{self._component}: timers due at {now} kept being scheduled at or before {now} by "
                              f"on_timer ({MAX_ROUNDS} rounds); schedule the next one after the time being fired")
        self.next_due[kind] = self._first(kind)
        return fired


def callback_failed(policy: ErrorPolicy, what: str, exc: Exception) -> None:
    """A timer or tick callback raised: under "fail" the worker stops; otherwise it is logged and counted, and
    the callback's timer is gone (there is no record to dead-letter). A failure that is not the callback's fault
    (a fenced producer, a registry outage: ErrorPolicy.not_its_fault) stops the worker in every mode."""
    stop = policy.not_its_fault(exc.cause if isinstance(exc, ProcessingError) else exc)
    if stop is not None:
        raise stop from exc
    if policy.mode == "fail":
        raise TimerFailed(f"{what} failed: {type(exc).__name__}: {exc} (the worker stops without committing; "
                          "run with --on-error skip or dlq to log and drop a failing callback)") from exc
    policy.skipped += 1
    log.error("%s failed and was dropped (--on-error %s): %s: %s", what, policy.mode, type(exc).__name__, exc)


class Timers:
    """``self.timers`` in a bolt that defines ``on_timer``: schedule and delete timers for a key.

    The key defaults to the current tuple's (in ``process``) or the timer's (in ``on_timer``); pass
    ``key=`` elsewhere. Times are ms since the epoch. An event-time timer fires once the task's stream
    time reaches it; a wall-clock timer once the wall clock does.
    """

    __slots__ = ("_bolt", "_service")

    def __init__(self, bolt: Bolt, service: TimerService) -> None:
        self._bolt = bolt
        self._service = service

    def _key(self, key: Any) -> Any:
        if key is not _CURRENT:
            return key
        current = self._bolt._current
        if current is None or current.key is None:
            raise StateError(f"{type(self._bolt).__name__}: a timer needs a key and there is no current one "
                             "(outside process()/on_timer(), or the tuple has key None); pass key=...")
        return current.key

    def at_event_time(self, when: int, key: Any = _CURRENT) -> None:
        """Call ``on_timer(key, when, "event")`` once stream time reaches ``when``."""
        self._service.schedule(EVENT, when, self._key(key))

    def at_wall_time(self, when: int, key: Any = _CURRENT) -> None:
        """Call ``on_timer(key, when, "wall")`` once the wall clock reaches ``when``."""
        self._service.schedule(WALL, when, self._key(key))

    def delete_event_time(self, when: int, key: Any = _CURRENT) -> None:
        self._service.delete(EVENT, when, self._key(key))

    def delete_wall_time(self, when: int, key: Any = _CURRENT) -> None:
        self._service.delete(WALL, when, self._key(key))
