"""WindowedBolt: a bolt that aggregates each key's records per window, declared by class attributes.

The runtime binds it to its task's stream time (streamproc.runtime.tasktime) through ``bind_windows``,
which replaces ``process`` with the window kind's per-record path (streamproc.windows.engine): nothing of
it runs per record in other bolts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from streamproc.components import Bolt, Tuple
from streamproc.errors import TopologyError
from streamproc.metrics import late_tally
from streamproc.state.store import Store
from streamproc.windows.agg import Aggregation
from streamproc.windows.kinds import CountSliding, CountTumbling, Hopping, Session, Sliding, Window, duration_ms

if TYPE_CHECKING:
    from streamproc.runtime.clock import StreamTime
    from streamproc.runtime.policy import ErrorPolicy
    from streamproc.state.partition import StorePartition
    from streamproc.windows.engine import Engine

EMIT_MODES = ("updates", "final")


class WindowedBolt(Bolt):
    """Aggregates each key's records per window and emits the results; set the class attributes, write no
    ``process``::

        class PageViewsPerMinute(WindowedBolt):
            window = Tumbling(size=timedelta(minutes=1), grace=timedelta(seconds=10))
            aggregation = agg.count()
            emit_mode = "final"

    Each result is a tuple on the default stream with the record's key and the value
    ``{"key": key, "start": ms, "end": ms, "value": result}``. ``emit_mode="updates"`` emits a window's
    result every time a record changes it (stamped with that record's time); ``"final"`` once, when the
    window closes (stamped with the window's last millisecond, ``end - 1``; ``end`` for sliding and session
    windows, whose ``end`` is inclusive). A record whose every window has closed goes to the ``late`` stream,
    as it came (key, value, timestamp, headers), and counts in ``streamproc_late_records_total``.

    The windows live in the store ``window_store`` (default ``"<ClassName>.windows"``, backend
    ``"windowed"``), declared first in ``stores``; declare more stores as usual. Closed windows are deleted,
    or kept ``retention`` (timedelta or ms) longer.
    """

    window: ClassVar[Window]
    aggregation: ClassVar[Aggregation]
    emit_mode: ClassVar[str] = "updates"
    retention: ClassVar[timedelta | int] = 0
    window_store: ClassVar[str | None] = None
    #: The stores the class declares itself (``stores`` is these after the window store).
    user_stores: ClassVar[tuple[Store, ...]] = ()
    #: ``retention`` in ms (set from it when the class is created).
    retention_ms: ClassVar[int] = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        name = cls.__name__
        store = cls.__dict__.get("window_store") or f"{name}.windows"
        cls.window_store = store
        if cls.process is not WindowedBolt.process:
            raise TopologyError(f"{name}: a WindowedBolt's process is the window's; set window and aggregation "
                                "instead (or use a plain Bolt)")
        if "stores" in cls.__dict__:
            cls.user_stores = tuple(cls.__dict__["stores"])
        cls.stores = (Store(store, backend="windowed"), *cls.user_stores)
        cls.streams = tuple(dict.fromkeys(("late", *cls.streams)))
        super().__init_subclass__(**kwargs)
        if "window" not in dir(cls):
            return  # an abstract base of windowed bolts
        window = cls.window
        if not isinstance(window, Window):
            raise TopologyError(f"{name}.window must be Tumbling, Hopping, Sliding, Session, CountTumbling or "
                                f"CountSliding (from streamproc.windows), got {window!r}")
        aggregation = getattr(cls, "aggregation", None)
        if not isinstance(aggregation, Aggregation):
            raise TopologyError(f"{name}.aggregation must be one of streamproc.windows.agg (count(), sum(...), "
                                f"custom(...), ...), got {aggregation!r}")
        if cls.emit_mode not in EMIT_MODES:
            raise TopologyError(f"{name}.emit_mode must be 'updates' or 'final', got {cls.emit_mode!r}")
        if isinstance(window, Session) and aggregation.merge is None:
            raise TopologyError(f"{name}: Session windows merge sessions, so the aggregation needs a merge "
                                "(agg.custom(initializer, aggregate, merge=...))")
        cls.retention_ms = duration_ms(f"{name}.retention", cls.retention, zero=True)

    def process(self, tup: Tuple) -> None:
        """Replaced by the window's per-record path when the task binds the bolt (``bind_windows``)."""
        raise TopologyError(f"{type(self).__name__} is not bound to a task")

    def bind_windows(self, component: str, stores: dict[str, StorePartition], clock: StreamTime,
                     policy: ErrorPolicy) -> Engine:
        """Build the engine of this task's windows and make its per-record path this bolt's ``process``."""
        from streamproc.windows.count import CountEngine
        from streamproc.windows.engine import FixedEngine
        from streamproc.windows.session import SessionEngine
        from streamproc.windows.sliding import SlidingEngine

        cls = type(self)
        if "window" not in dir(cls):
            raise TopologyError(f"{cls.__name__} declares no window (window = Tumbling(...), ...)")
        window = cls.window
        part = stores[cls.window_store or ""]
        late = late_tally(component)
        engine: Engine
        if isinstance(window, Hopping):
            engine = FixedEngine(component, self, part, clock, policy, late)
        elif isinstance(window, Session):
            engine = SessionEngine(component, self, part, clock, policy, late)
        elif isinstance(window, Sliding):
            engine = SlidingEngine(component, self, part, clock, policy, late)
        else:
            assert isinstance(window, (CountTumbling, CountSliding))
            engine = CountEngine(component, self, part, clock, policy, late)
        vars(self)["process"] = engine.process
        return engine
