"""Moving tuples between components: in-process calls, or records on internal topics.

Emission is depth-first and synchronous: ``emit`` calls the downstream bolt's ``process`` before
returning, as Kafka Streams' ``forward`` does, so one input message is fully handled (or has
failed) before the next one starts and no queue sits between bolts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from streamproc.components import DEFAULT_STREAM, Bolt, Tuple, declared_streams
from streamproc.errors import ProcessingError, SerdeError, StateError, TopologyError
from streamproc.groupings import EVERY
from streamproc.kafka.sink import KafkaSink
from streamproc.metrics import Tally
from streamproc.plan import Route
from streamproc.runtime.dedupe import ORIGIN_HEADER, OriginCounter
from streamproc.runtime.output import Output
from streamproc.serde.base import Headers, Serde, SerdeContext
from streamproc.serde.json import JsonSerde

Deliver = Callable[[Tuple], None]

#: On an internal topic read by several (component, stream) pairs, names the pair a record came from.
SOURCE_TAG_HEADER = "streamproc.from"


class UndeclaredStream(TopologyError):
    """A bolt emitted on a stream it does not declare: a typo would otherwise drop every such tuple."""

    def __init__(self, component: str, stream: str, declared: list[str]) -> None:
        super().__init__(f"bolt {component!r} emitted on stream {stream!r}, which it does not declare; it declares "
                         f"{declared}. Declare a stream with streams = (...) on the bolt class")


class BoltRunner:
    """Calls one bolt, attributing any exception to it.

    It sets the bolt's record context (``_current``: what ``emit`` and ``state`` read) and does not clear
    it afterwards: between two messages no code of the bolt runs on the task's thread, and every other
    entry into user code replaces the context too (``flush`` gets a CallbackContext, ``teardown`` none;
    streamproc.runtime.task). Clearing it after every call cost about 2% of the keyed count's
    instructions per message (cachegrind, bench/hotpath.py).
    """

    __slots__ = ("bolt", "component", "process")

    def __init__(self, component: str, bolt: Bolt) -> None:
        self.component = component
        self.bolt = bolt
        self.process = bolt.process

    def run(self, tup: Tuple) -> None:
        self.bolt._current = tup
        try:
            self.process(tup)
        except ProcessingError:
            raise
        except (Exception, SystemExit) as exc:  # sys.exit() in a bolt is that record's error, not a stop
            raise ProcessingError(self.component, exc) from exc


class ComponentEmitter:
    """A bolt's ``emit``, bound onto the instance: builds the tuple once and hands it to each
    subscriber of its stream. Binding it replaces ``Bolt.emit`` and saves a frame per emission.
    ``emitted`` counts the calls (the metrics read it; every task of the component shares it)."""

    __slots__ = ("_default", "_sink", "_sink_id", "bolt", "component", "emitted", "streams")

    def __init__(self, component: str, bolt: Bolt, streams: Mapping[str, Sequence[Deliver]],
                 direct_sink: tuple[str, KafkaSink] | None = None, emitted: Tally | None = None) -> None:
        self.component = component
        self.bolt = bolt
        self.emitted = emitted if emitted is not None else Tally()
        #: Every stream the bolt declares (those without a subscriber deliver to nobody); an undeclared
        #: stream misses this dict, and only that miss costs a check.
        self.streams: dict[str, tuple[Deliver, ...]] = dict.fromkeys(declared_streams(type(bolt), component), ())
        self.streams.update({stream: tuple(delivers) for stream, delivers in streams.items()})
        self._default = self.streams.get(DEFAULT_STREAM, ())
        #: The default stream's only subscriber, when it is a plain KafkaSink in this task: written
        #: to directly, without building a tuple for it (one output per input is the common case).
        self._sink: KafkaSink | None = direct_sink[1] if direct_sink is not None else None
        self._sink_id = direct_sink[0] if direct_sink is not None else ""

    def __call__(
        self,
        value: Any,
        key: Any = None,
        stream: str = DEFAULT_STREAM,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> None:
        parent = self.bolt._current
        if parent is None:
            raise StateError(f"{self.component}: emit() called outside process() or flush(); it has no record to "
                             "descend from")
        self.emitted.count += 1
        sink = self._sink
        if sink is not None and stream == DEFAULT_STREAM:
            try:
                sink.write(key, value, headers, parent.timestamp if timestamp is None else timestamp)
            except Exception as exc:
                raise ProcessingError(self._sink_id, exc) from exc
            return
        delivers = self._default if stream == DEFAULT_STREAM else self.streams.get(stream)
        if not delivers:
            if delivers is None:
                raise UndeclaredStream(self.component, stream, sorted(self.streams))
            return  # nobody subscribes to this declared stream (Storm drops such tuples too)
        tup = Tuple(
            key,
            value,
            parent.topic,
            parent.partition,
            parent.offset,
            parent.timestamp if timestamp is None else timestamp,
            headers,
            stream,
            self.component,
        )
        for deliver in delivers:
            deliver(tup)


def encode_internal_key(key: Any) -> bytes | None:
    return None if key is None else orjson.dumps(key)


def decode_internal_key(raw: bytes | None) -> Any:
    if raw is None:
        return None
    key = orjson.loads(raw)
    return tuple(key) if type(key) is list else key


class InternalWriter:
    """Sends tuples of one route to its internal topic, choosing the partition as the grouping says."""

    __slots__ = ("_counter", "_ctx", "_output", "_partitions", "_route", "_serialize", "_tag", "_topic")

    def __init__(self, route: Route, partitions: int, output: Output, tagged: bool, counter: OriginCounter) -> None:
        assert route.topic is not None
        self._route = route
        self._topic = route.topic
        self._partitions = partitions
        self._output = output
        serde: Serde = route.grouping.serde or JsonSerde()
        self._serialize = serde.serialize
        self._ctx = SerdeContext(route.topic, is_key=False)
        self._counter = counter
        self._tag: Headers = [(SOURCE_TAG_HEADER, f"{route.source}/{route.stream}".encode())] if tagged else []

    def deliver(self, tup: Tuple) -> None:
        grouping = self._route.grouping
        try:
            key = grouping.key(tup)
        except (KeyError, IndexError, TypeError) as exc:
            raise ProcessingError(
                self._route.source,
                SerdeError(
                    f"{grouping.name} grouping of {self._route.target!r} needs a dict value with those fields; "
                    f"{self._route.source!r} emitted {type(tup.value).__name__} {tup.value!r:.80}"
                ),
            ) from exc
        if type(key) is not str and type(key) is not int:  # the usual keys pass without a call
            problem = grouping.key_problem(key)
            if problem is not None:
                raise ProcessingError(self._route.source, SerdeError(
                    f"{grouping.kind} grouping of {self._route.target!r}: {problem}; {self._route.source!r} emitted "
                    f"{tup.value!r:.80}"))
        try:
            raw_key = encode_internal_key(key)
            raw_value = self._serialize(tup.value, self._ctx)
        except (TypeError, SerdeError) as exc:
            raise ProcessingError(self._route.source, exc) from exc
        # Internal headers lead, in a fixed order (origin, then tag), so the reader strips them cheaply.
        headers: Headers = [(ORIGIN_HEADER, self._counter.header(tup.topic, tup.partition, tup.offset))]
        if self._tag:
            headers += self._tag
        if tup.headers:
            headers += tup.headers
        try:
            partition = grouping.partition(tup, self._partitions)
        except Exception as exc:
            raise ProcessingError(self._route.source, exc) from exc
        if partition == EVERY:
            for each in range(self._partitions):
                self._output.send(self._topic, raw_key, raw_value, each, headers, tup.timestamp)
            return
        self._output.send(self._topic, raw_key, raw_value, partition, headers, tup.timestamp)
