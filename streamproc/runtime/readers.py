"""Turning one consumed Kafka message into a tuple for the first component that handles it.

A reader exists per (task, source topic). It remembers the offset after the last message it
finished, which is exactly what the checkpoint commits and what changelog headers record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from streamproc.components import DEFAULT_STREAM, Tuple
from streamproc.errors import ProcessingError, TimestampError
from streamproc.runtime.clock import StreamTime, TimeConfig, check_timestamp, extract
from streamproc.runtime.dedupe import ORIGIN_HEADER, REPLAY_HEADER, OriginMarks
from streamproc.runtime.policy import ErrorPolicy
from streamproc.runtime.redrive import REDRIVE_HEADER, RedriveGuard
from streamproc.runtime.routing import SOURCE_TAG_HEADER, BoltRunner, Deliver, decode_internal_key
from streamproc.serde.base import Serde, SerdeContext, fast_decoder


class Reader:
    """Base: offset bookkeeping, stream time and the error policy. Subclasses implement ``read`` in one
    frame (it runs once per message): handle the message, hand a ProcessingError to ``policy.handle``
    (which raises under "fail", leaving the offset where it was), then advance ``next_offset``.

    Every record moves its task's stream time (``clock``, shared by the task's readers) to its event
    time if that is higher, before the bolts see it (streamproc.runtime.clock)."""

    __slots__ = ("clock", "next_offset", "partition", "policy", "topic")

    def __init__(self, topic: str, partition: int, policy: ErrorPolicy) -> None:
        self.topic = topic
        self.partition = partition
        self.policy = policy
        #: The task's stream time (the task replaces this private one with its own).
        self.clock = StreamTime(TimeConfig())
        #: Offset after the last fully handled message; None until one is handled.
        self.next_offset: int | None = None

    def read(self, msg: Any) -> None:
        raise NotImplementedError


class SpoutReader(Reader):
    """An input topic of a KafkaSpout: decode key and value with the spout's serdes."""

    __slots__ = ("_delivers", "_extract", "_fast_key", "_fast_value", "_key_ctx", "_key_de", "_only", "_spout",
                 "_value_ctx", "_value_de", "guard")

    def __init__(
        self,
        topic: str,
        partition: int,
        policy: ErrorPolicy,
        spout_id: str,
        key_serde: Serde,
        value_serde: Serde,
        delivers: Sequence[Deliver],
        timestamp: Callable[[Any, Any, int], int] | None = None,
    ) -> None:
        """``timestamp``: the spout's event-time extractor, fn(key, value, kafka_timestamp) -> ms."""
        super().__init__(topic, partition, policy)
        self._spout = spout_id
        self._extract = timestamp
        self._key_de = key_serde.deserialize
        self._value_de = value_serde.deserialize
        self._fast_key = fast_decoder(key_serde)
        self._fast_value = fast_decoder(value_serde)
        self._key_ctx = SerdeContext(topic, is_key=True)
        self._value_ctx = SerdeContext(topic, is_key=False)
        self._delivers = tuple(delivers)
        #: The one in-process bolt this spout feeds, if that is all it feeds: called without the runner's
        #: frame (the read loop does the runner's work inline).
        owner = getattr(delivers[0], "__self__", None) if len(delivers) == 1 else None
        self._only: BoltRunner | None = owner if isinstance(owner, BoltRunner) else None
        #: Decides whether a re-driven dead letter is applied (runtime/redrive.py); None without state.
        self.guard: RedriveGuard | None = None

    def read(self, msg: Any) -> None:
        offset = msg.offset()
        headers = msg.headers()
        if headers and headers[0][0] == REDRIVE_HEADER and self.guard is not None \
                and not self.guard.admit(headers[0][1], self.topic, self.partition, offset):
            self.next_offset = offset + 1
            return
        try:
            try:
                raw = msg.key()
                fast = self._fast_key
                if raw is None or fast is None:
                    key = self._key_de(raw, self._key_ctx)
                else:
                    try:
                        key = fast(raw)
                    except Exception:
                        key = self._key_de(raw, self._key_ctx)  # the serde's own error message
                raw = msg.value()
                fast = self._fast_value
                if raw is None or fast is None:
                    value = self._value_de(raw, self._value_ctx)
                else:
                    try:
                        value = fast(raw)
                    except Exception:
                        value = self._value_de(raw, self._value_ctx)
            except (Exception, SystemExit) as exc:
                raise ProcessingError(self._spout, exc) from exc
            ts = msg.timestamp()[1]
            try:
                if self._extract is not None:
                    ts = extract(self._extract, key, value, ts)
                clock = self.clock
                if ts > clock.time:
                    if ts < clock.limit:
                        clock.time = ts
                    else:
                        clock.advance(ts)
                elif ts < 0:
                    check_timestamp(ts)
            except TimestampError as exc:
                raise ProcessingError(self._spout, exc) from exc
            tup = Tuple(key, value, self.topic, self.partition, offset, ts, headers, DEFAULT_STREAM, self._spout)
            only = self._only
            if only is None:
                for deliver in self._delivers:
                    deliver(tup)
            else:  # BoltRunner.run, inline
                only.bolt._current = tup
                try:
                    only.process(tup)
                except ProcessingError:
                    raise
                except (Exception, SystemExit) as exc:
                    raise ProcessingError(only.component, exc) from exc
        except ProcessingError as error:
            self.policy.handle(error, msg)
        self.next_offset = offset + 1


class InternalReader(Reader):
    """An internal topic: the key is the grouping key (JSON), the value is in the route's serde.

    With ``marks`` (the task has state), records an upstream task wrote twice are skipped.
    """

    __slots__ = ("_ctx", "_deliver", "_origins", "_single", "marks")

    def __init__(
        self,
        topic: str,
        partition: int,
        policy: ErrorPolicy,
        deliver: Deliver,
        origins: Mapping[bytes, tuple[str, str, Serde]],
        marks: OriginMarks | None = None,
    ) -> None:
        super().__init__(topic, partition, policy)
        self._deliver = deliver
        self.marks = marks
        self._origins = dict(origins)
        self._single = next(iter(origins.values())) if len(origins) == 1 else None
        self._ctx = SerdeContext(topic, is_key=False)

    def read(self, msg: Any) -> None:
        offset = msg.offset()
        try:
            self._read(msg)
        except ProcessingError as error:
            self.policy.handle(error, msg)
        self.next_offset = offset + 1

    def _read(self, msg: Any) -> None:
        headers = msg.headers()
        if headers and headers[0][0] == ORIGIN_HEADER:
            if self.marks is not None and not self.marks.admit(headers[0][1]):
                return  # an upstream replay wrote this record again; its effect is already in the state
            headers = headers[1:]
        elif headers and headers[0][0] == REPLAY_HEADER:  # a replay barrier (runtime/dedupe.py), not a tuple
            if self.marks is not None:
                self.marks.restart(headers[0][1])
            return
        origin = self._single
        if origin is None:
            tag = headers[0][1] if headers and headers[0][0] == SOURCE_TAG_HEADER else None
            origin = self._origins.get(tag) if tag is not None else None
            if origin is None:
                raise ProcessingError(self.topic, ValueError(f"record without a known {SOURCE_TAG_HEADER} header"))
            headers = headers[1:]
        source, stream, serde = origin
        try:
            key = decode_internal_key(msg.key())
            value = serde.deserialize(msg.value(), self._ctx)
        except (Exception, SystemExit) as exc:
            raise ProcessingError(source, exc) from exc
        ts = msg.timestamp()[1]
        clock = self.clock
        try:
            if ts > clock.time:
                if ts < clock.limit:
                    clock.time = ts
                else:
                    clock.advance(ts)
            elif ts < 0:
                check_timestamp(ts)
        except TimestampError as exc:
            raise ProcessingError(source, exc) from exc
        self._deliver(Tuple(key, value, self.topic, self.partition, msg.offset(), ts, headers or None, stream, source))
