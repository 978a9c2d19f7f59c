"""Time in one task: its stream time, its bolts' timers and ticks, and the contexts their callbacks run in.

Callbacks that no record caused run with a CallbackContext: the timer's key (none for a tick), and an
origin for what they emit to internal topics, which the dedupe downstream relies on:

- event-time timers that stream time passed as it moved (by a record, or by idle advance):
  (``streamproc.timer.<sub>.<component>``, partition, the timer's time), numbered in key order. Stream time only
  grows, so every move fires a range of times above all earlier ones, and all the timers of one time
  fire together. A replay from the last commit restores stream time and timers and fires the same
  timers at the same times in the same order, whatever order it reads several inputs in: the same
  origins, which downstream recognises as copies; a new firing always has a higher one.
- everything else the wall clock runs (ticks, wall-clock timers, and event-time timers scheduled at
  or before the current stream time, which fire at the next loop iteration or record):
  (``streamproc.wall.<sub>``, partition, the wall clock in ms, made strictly increasing per task).
  These depend on when they run, so a replay runs them again as new (at-least-once in effect), and
  the dedupe never takes them for copies (a new owner's clock may be behind the old one's).

Event-time timers fire before the record that moved stream time past them is processed: the record
is the evidence that their time has passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from streamproc.components import DEFAULT_STREAM, TIMER_ORIGIN, WALL_ORIGIN, Bolt, CallbackContext
from streamproc.runtime.clock import NEVER, NO_TIME, STREAM_TIME_KEY, StreamTime, TimeConfig
from streamproc.runtime.policy import ErrorPolicy
from streamproc.runtime.timers import EVENT, WALL, Timers, TimerService, callback_failed
from streamproc.state.partition import StorePartition
from streamproc.windows.bolt import WindowedBolt
from streamproc.windows.engine import Engine


class TaskTime:
    def __init__(self, config: TimeConfig, sub_id: int, partition: int, policy: ErrorPolicy,
                 position: Callable[[], int]) -> None:
        """``position()``: the task's input position (Task.position)."""
        #: Idle advance after this many ms without input (None: off).
        self.idle_ms = config.idle_advance_ms
        self.config = config
        self._partition = partition
        self._policy = policy
        self._position = position
        self._timer_origin = f"{TIMER_ORIGIN}{sub_id}"
        self._wall_origin = f"{WALL_ORIGIN}{sub_id}"
        self._last_wall_origin = 0
        #: Stream time, shared by the task's readers; event-time timers fire as it passes them.
        self.clock = StreamTime(config, self._fire_by_record)
        self.timers: dict[str, TimerService] = {}
        #: The windows of each WindowedBolt (streamproc.windows.engine): closed as stream time passes them.
        self.windows: dict[str, Engine] = {}
        self._window_origins: dict[str, str] = {}
        #: Ticking bolts: (bolt, interval in ms, next tick's wall-clock time).
        self.ticks: dict[str, tuple[Bolt, int, int]] = {}
        #: A tick or timer ran since the last checkpoint: the next one is due even without input.
        self.called_back = False
        # Idle advance: the input position last seen, since when (wall ms), and stream time then.
        self._idle_position = -1
        self._idle_since = config.wall()
        self._idle_base = NO_TIME

    @property
    def active(self) -> bool:
        """Whether the wall clock can make anything of this task due (timers, ticks, idle advance)."""
        return bool(self.timers or self.ticks) or self.idle_ms is not None

    def add_bolt(self, component: str, bolt: Bolt, stores: Mapping[str, StorePartition]) -> None:
        """Bind ``bolt.timers`` (if it defines on_timer), schedule its ticks (if it has tick_interval), and bind a
        WindowedBolt's windows to stream time."""
        cls = type(bolt)
        if isinstance(bolt, WindowedBolt):
            self.windows[component] = bolt.bind_windows(component, dict(stores), self.clock, self._policy)
            self._window_origins[component] = f"{self._timer_origin}.{component}/windows"
        if cls.on_timer is not Bolt.on_timer:
            service = TimerService(component, bolt, stores[cls.stores[0].name], self._policy)
            service.on_event_timer = self.clock.schedule
            self.timers[component] = service
            vars(bolt)["timers"] = Timers(bolt, service)
        if cls.tick_interval is not None:
            interval = max(1, round(cls.tick_interval * 1000))
            self.ticks[component] = (bolt, interval, self.config.wall() + interval)

    # --- committed with the state ---------------------------------------------------------------
    def load(self, stores: Iterable[StorePartition]) -> None:
        """Stream time and timers from the (restored) stores; before the task processes anything."""
        stores = list(stores)
        if stores:
            self.clock.restore(max(StreamTime.decode(s.backend.get(STREAM_TIME_KEY)) for s in stores))
        for service in self.timers.values():
            service.load()
        for engine in self.windows.values():
            engine.load()
        self._set_event_due()
        self._idle_base = self.clock.time

    def stage(self, stores: Iterable[StorePartition]) -> None:
        if self.clock.time != self.clock.committed:
            encoded = self.clock.encode()
            for store in stores:
                store.put_raw(STREAM_TIME_KEY, encoded)

    def committed(self) -> None:
        self.clock.committed = self.clock.time
        self.called_back = False

    # --- firing ---------------------------------------------------------------------------------
    def wall_due(self) -> int:
        """The wall-clock time (ms) something of this task is due next (NEVER: nothing)."""
        due = min((next_tick for _, _, next_tick in self.ticks.values()), default=NEVER)
        for service in self.timers.values():
            due = min(due, service.next_due[WALL])
        if self.clock.next_due <= self.clock.time:  # an event-time timer scheduled in the past
            return 0
        return due

    def on_wall(self, now: int) -> None:
        """Run what the wall clock made due at ``now`` (ms): overdue event-time timers, wall-clock timers,
        ticks. Called from the worker's loop, between batches."""
        if self.clock.next_due <= self.clock.time:
            self._fire_event(self.clock.time, self.clock.time, now)
        for component, service in self.timers.items():
            if service.next_due[WALL] <= now:
                self.called_back |= service.fire(WALL, now, self._wall_context(now, component)) > 0
        for component, (bolt, interval, next_tick) in list(self.ticks.items()):
            if next_tick <= now:
                self.ticks[component] = (bolt, interval, now + interval)
                self._tick(component, bolt, now)
                self.called_back = True

    def idle_advance(self, now: int) -> None:
        """With idle advance on, called at every loop iteration: once the task's input position has not moved for
        ``idle_advance_ms``, stream time follows the wall clock from where it was at the last input."""
        position = self._position()
        if position != self._idle_position:
            self._idle_position, self._idle_since, self._idle_base = position, now, self.clock.time
            return
        elapsed = now - self._idle_since
        if self.idle_ms is None or elapsed < self.idle_ms or self._idle_base == NO_TIME:
            return
        target = self._idle_base + elapsed
        before = self.clock.time
        if target > before:
            self.clock.time = target
            self._fire_event(before, target, now)

    def _tick(self, component: str, bolt: Bolt, now: int) -> None:
        bolt._current = self._context(component, None, self._stamp(now), self._wall_origin, self._wall_offset(now))
        try:
            bolt.on_tick()
        except Exception as exc:
            callback_failed(self._policy, f"{component}.on_tick()", exc)
        finally:
            bolt._current = None

    def _fire_by_record(self, before: int, now: int) -> None:
        self._fire_event(before, now, self.config.wall())

    def _fire_event(self, before: int, now: int, wall: int) -> None:
        """Fire the event-time timers due at stream time ``now`` (``before``: stream time until now). Origins
        are per component: what one component's timers emit stays contiguous per origin."""
        for component, service in self.timers.items():
            timer_origin = f"{self._timer_origin}.{component}"
            wall_offset = self._wall_offset(wall)

            def context(key: Any, when: int, component: str = component, timer_origin: str = timer_origin,
                        wall_offset: int = wall_offset) -> CallbackContext:
                if when > before:
                    return self._context(component, key, when, timer_origin, when)
                return self._context(component, key, when, self._wall_origin, wall_offset)

            self.called_back |= service.fire(EVENT, now, context) > 0
        for component, engine in self.windows.items():
            if engine.next_due <= now:
                # Its own origin: windows close in (close time, key) order, apart from the bolt's timers.
                self.called_back |= engine.fire(now, self._window_context(component, before, wall)) > 0
        self._set_event_due()

    def _window_context(self, component: str, before: int, wall: int) -> Callable[[Any, int], CallbackContext]:
        """The context of a window of ``component`` closing as stream time moves on from ``before``: as an event
        timer's (its close time as origin offset, under an origin of the windows' own), built per window."""
        origin = self._window_origins[component]

        def context(key: Any, when: int) -> CallbackContext:
            if when > before:
                return self._context(component, key, when, origin, when)
            return self._context(component, key, when, self._wall_origin, self._wall_offset(wall))

        return context

    def _set_event_due(self) -> None:
        due = NEVER
        for service in self.timers.values():
            due = min(due, service.next_due[EVENT])
        for engine in self.windows.values():  # windows of short sessions close at nearly every record: no generator
            if engine.next_due < due:
                due = engine.next_due
        self.clock.set_next_due(due)

    # --- contexts -------------------------------------------------------------------------------
    def _wall_offset(self, now: int) -> int:
        """The wall clock as an origin offset, strictly increasing per task (two runs in one ms differ)."""
        offset = self._last_wall_origin = max(now, self._last_wall_origin + 1)
        return offset

    def wall_origin(self) -> tuple[str, int]:
        """(origin topic, offset) for a callback the wall clock drives, now."""
        return self._wall_origin, self._wall_offset(self.config.wall())

    def _stamp(self, now: int) -> int:
        """The timestamp of what a wall-clock callback emits: stream time once there is one."""
        return self.clock.time if self.clock.time != NO_TIME else now

    def _wall_context(self, now: int, component: str) -> Callable[[Any, int], CallbackContext]:
        """The context of a wall-clock timer of ``component`` fired at ``now``."""
        offset = self._wall_offset(now)
        origin = self._wall_origin
        return lambda key, when: self._context(component, key, self._stamp(now), origin, offset)

    def _context(self, component: str, key: Any, timestamp: int, origin: str, offset: int) -> CallbackContext:
        return CallbackContext(key, None, origin, self._partition, offset, timestamp, None, DEFAULT_STREAM, component)
