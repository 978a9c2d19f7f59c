"""What users write: bolts that receive tuples and emit new ones.

A bolt instance belongs to exactly one task (one partition of one sub-topology), so it may keep
plain instance attributes without locks. The runtime binds three private attributes before
``setup``: the tuple being processed (for ``emit`` and keyed state), the emitter, and the
bolt's state handles.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from streamproc.errors import StateError, TopologyError
from streamproc.serde.base import Headers

if TYPE_CHECKING:
    from streamproc.state.keyed import KeyedState
    from streamproc.state.store import Store

DEFAULT_STREAM = "default"
#: ``Bolt.state(name)`` without ``key``: scoped to the current tuple's key.
_CURRENT_KEY: Any = object()


class Tuple:
    """One record flowing through a topology.

    ``topic``/``partition``/``offset`` always name the input record this tuple descends from, so
    an error or a dead letter can be traced to its origin. ``source`` is the component that
    emitted it and ``stream`` the named stream it was emitted on.
    """

    __slots__ = ("headers", "key", "offset", "partition", "source", "stream", "timestamp", "topic", "value")

    def __init__(
        self,
        key: Any,
        value: Any,
        topic: str,
        partition: int,
        offset: int,
        timestamp: int | None,
        headers: Headers | None,
        stream: str,
        source: str,
    ) -> None:
        self.key = key
        self.value = value
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.headers = headers
        self.stream = stream
        self.source = source

    def __repr__(self) -> str:
        return (
            f"Tuple(key={self.key!r}, value={self.value!r}, source={self.source!r}, stream={self.stream!r}, "
            f"origin={self.topic}[{self.partition}]@{self.offset})"
        )


class CallbackContext(Tuple):
    """What ``emit`` and ``state`` see during a callback that no record caused (``flush``, ``on_tick``,
    ``on_timer``): no key (a timer's key in ``on_timer``), and an origin that is not any one record's
    (for ``flush`` the task's input position; timers and ticks: streamproc.runtime.tasktime).

    Records emitted to an internal topic carry their origin so that a downstream task can recognise an
    upstream replay (streamproc.runtime.dedupe). For ``flush`` the origin is (``streamproc.flush.<sub-
    topology id>``, the task's partition, the sum of its input positions): a replay that reaches the
    same position and flushes there emits the same origins, which are skipped downstream, while later
    flushes always carry a higher one. The origin partition is apart from the inputs' own, so a flush
    never hides a record's emissions or the other way round. A flush with no input since the previous one
    takes the wall-clock origin instead (Task.flush_bolts says why).
    """

    __slots__ = ()


#: The origin topic of what a task emits from a callback, with the sub-topology id appended.
CALLBACK_ORIGIN = "streamproc.flush."
#: ... from event-time timers a record's arrival fired: the offset is the task's input position then.
TIMER_ORIGIN = "streamproc.timer."
#: ... from callbacks the wall clock runs (ticks, wall timers, overdue timers): the offset is the wall clock in ms;
#: downstream never takes these for copies (runtime/dedupe.py UNCHECKED_ORIGIN).
WALL_ORIGIN = "streamproc.wall."


class NoTimers:
    """``self.timers`` of a bolt that does not define ``on_timer``: every call explains what is missing."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        """Raises StateError: timers need ``on_timer`` on the bolt."""
        raise StateError("timers need an on_timer(self, key, when, kind) method on the bolt (and a declared store "
                         "to keep them in)")

    at_event_time = at_wall_time = delete_event_time = delete_wall_time = _refuse


class TaskContext:
    """What a bolt learns about where it runs, handed to ``setup``."""

    __slots__ = ("component", "logger", "partition", "task_id", "topology")

    def __init__(self, topology: str, component: str, task_id: str, partition: int) -> None:
        self.topology = topology
        self.component = component
        self.task_id = task_id
        self.partition = partition
        self.logger = logging.getLogger(f"streamproc.bolt.{component}")


class Bolt:
    """Base class for user code. Override ``process``; ``setup``/``teardown``/``flush`` are optional, and so
    are ``on_tick`` (with ``tick_interval``) and ``on_timer`` (timers scheduled with ``self.timers``).

    ``stores`` declares the keyed stores the bolt uses. ``streams`` names the streams it emits on
    besides ``"default"``, which every bolt has; a subscription to any other stream fails when the
    topology is built, and an ``emit`` on any other stream raises. ``output_fields`` (a list of field
    names for the default stream, or a mapping of stream name to field names, whose keys are declared
    streams too) declares the fields of the dict values it emits, so that a fields grouping on a
    missing field fails when the topology is built rather than at run time.
    """

    stores: ClassVar[Sequence[Store]] = ()
    streams: ClassVar[Sequence[str]] = ()
    output_fields: ClassVar[Sequence[str] | Mapping[str, Sequence[str]] | None] = None
    #: Seconds of wall-clock time between calls of ``on_tick`` on each task (None: no ticks).
    tick_interval: ClassVar[float | None] = None

    _current: Tuple | None = None
    _states: Mapping[str, KeyedState] = {}
    #: Schedules and deletes keyed timers (streamproc.runtime.timers.Timers); bound for bolts with ``on_timer``.
    timers: Any = NoTimers()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        tick = cls.tick_interval
        if tick is not None and (isinstance(tick, bool) or not isinstance(tick, (int, float)) or not tick > 0):
            raise TopologyError(f"{cls.__name__}.tick_interval must be a number of seconds > 0, got {tick!r}")
        if cls.on_timer is not Bolt.on_timer and not cls.stores:
            raise TopologyError(f"{cls.__name__} defines on_timer but declares no store: timers are state, kept in "
                                f"the bolt's first store; declare one, e.g. stores = [Store('timers')]")

    def setup(self, context: TaskContext) -> None:
        """Called once per task before the first tuple."""

    def process(self, tup: Tuple) -> None:
        """Handle one tuple: read and write state, ``emit`` results. Every bolt implements it.

        An exception is a failed message: the worker's ``--on-error`` policy stops, dead-letters the
        input record, or skips it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement process(tup)")

    def flush(self) -> None:
        """Called at every checkpoint before state is written: a batching bolt emits what it holds."""

    def teardown(self) -> None:
        """Called when the task closes (partition revoked, worker stopping)."""

    def on_tick(self) -> None:
        """With ``tick_interval`` set: called every that many seconds of wall-clock time on each task. There is no
        current key: pass ``key=`` to ``state`` and ``emit`` what you need."""

    def on_timer(self, key: Any, when: int, kind: str) -> None:
        """A timer scheduled with ``self.timers`` is due: ``kind`` is "event" or "wall", ``when`` its time in ms.
        ``state`` and ``timers`` act on ``key`` here, as in ``process`` for a tuple with that key."""

    def emit(
        self,
        value: Any,
        key: Any = None,
        stream: str = DEFAULT_STREAM,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Send a tuple downstream. The timestamp defaults to that of the tuple being processed.

        A running task replaces this method on each bolt instance with its emitter; this body only
        runs for a bolt that no task has wired.
        """
        raise RuntimeError(f"{type(self).__name__}.emit() called outside process()/flush() of a running task")

    def state(self, name: str, key: Any = _CURRENT_KEY) -> KeyedState:
        """The keyed store ``name``, scoped to the key of the tuple being processed, or to ``key``.

        In ``process`` the current tuple's key is the default. Where there is no current tuple (in
        ``flush``) pass ``key=``; without it the store raises StateError on use.
        """
        try:
            states = self._states[name]
        except KeyError:
            declared = sorted(self._states) or "none"
            raise KeyError(
                f"{type(self).__name__} has no store {name!r}; declared stores: {declared}. "
                f"Declare it with stores = [Store({name!r})]"
            ) from None
        return states if key is _CURRENT_KEY else states.for_key(key)


def declared_streams(bolt_class: type[Bolt], component: str) -> dict[str, tuple[str, ...] | None]:
    """The streams a bolt class declares, each with its declared fields (None: not declared).

    ``"default"`` is always there; ``streams`` and the keys of an ``output_fields`` mapping add more.
    """
    found: dict[str, tuple[str, ...] | None] = {DEFAULT_STREAM: None}
    names = bolt_class.streams
    if isinstance(names, str) or not isinstance(names, Sequence) or not all(isinstance(n, str) and n for n in names):
        raise TopologyError(f"bolt {component!r}: streams must be a tuple of stream names, e.g. "
                            f"streams = ('default', 'alerts'); got {names!r}")
    found.update(dict.fromkeys(names))
    fields = bolt_class.output_fields
    if fields is None:
        return found
    if isinstance(fields, Sequence) and not isinstance(fields, str):
        found[DEFAULT_STREAM] = tuple(fields)
    elif isinstance(fields, Mapping) and all(isinstance(stream, str) and stream for stream in fields):
        found.update({stream: tuple(names) for stream, names in fields.items()})
    else:
        raise TopologyError(f"bolt {component!r}: output_fields must be a list of names or a dict of stream -> names")
    return found
