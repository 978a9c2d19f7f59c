"""Dead letters: reading them back, grouped by origin, and re-driving (or skipping) each origin once.

A dead letter is the failed message's original key, value, headers and timestamp, plus headers
naming the error and its origin (runtime/policy.py). One input can be dead-lettered several times:
a crash or a replay delivers it again and it fails again. So dead letters are grouped by their
**origin**: the input topic, partition and offset (for a record of an internal topic, the upstream
input it came from, which its origin header names). Handling is per origin: re-driving produces
the original back to its origin topic and partition (or another topic) once, whatever the number of
copies; skipping marks it handled without producing anything. Two things record what is handled:

- a consumer group ``<group>-dlq`` holds, per DLQ partition, the offset below which every dead
  letter is dealt with (so ``streamproc lag``-style tools show what is pending);
- a compacted ledger topic ``<group>-dlq-redriven`` (streamproc.names), keyed by origin, says how each handled
  origin was dealt with (re-driven or skipped). Copies that arrive later are recognised by it.

The ledger record is produced with the re-driven message and both are acknowledged before the
group offset moves. Only a crash between the acknowledgement of one and not the other can
re-drive a message a second time (at-least-once, like everything else here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from confluent_kafka import Consumer, Producer

from streamproc.kafka.reading import scan
from streamproc.runtime import policy
from streamproc.runtime.dedupe import ORIGIN_HEADER
from streamproc.runtime.redrive import REDRIVE_HEADER

Status = Literal["pending", "re-driven", "skipped"]

Headers = list[tuple[str, bytes | None]]
_DLQ_HEADERS = frozenset({policy.H_ERROR, policy.H_ERROR_TYPE, policy.H_COMPONENT, policy.H_TOPIC,
                          policy.H_PARTITION, policy.H_OFFSET, policy.H_TIMESTAMP, policy.H_DROPPED})


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    #: The failed message's own headers, without the dead-letter ones.
    headers: Headers = field(repr=False)
    error: str
    error_type: str
    component: str
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    failed_at: int | None
    #: Set when the dead letter had to leave out the value (and maybe more): it cannot be re-driven.
    dropped: str | None = None

    def matches(self, text: str | None) -> bool:
        """Whether ``--filter-error text`` selects it: a case-blind match on the error or its type. A letter
        without its original value is never selected: re-driving it would send something else."""
        if self.dropped is not None:
            return False
        if text is None:
            return True
        needle = text.lower()
        return needle in self.error.lower() or needle in self.error_type.lower()

    @property
    def origin(self) -> str:
        if self.source_topic is None:
            return "?"
        return f"{self.source_topic}[{self.source_partition}]@{self.source_offset}"

    @property
    def origin_id(self) -> str:
        """What identifies the input this dead letter is a copy of. For a record of an internal topic,
        whose offsets restart when ``replay --reset-state`` recreates the topic, that is the upstream
        origin its header names, not its own offset."""
        upstream = next((v for k, v in self.headers if k == ORIGIN_HEADER and v), None)
        if upstream is not None:
            return f"{self.source_topic}<-{upstream.decode(errors='replace')}"
        if self.source_topic is None:
            return f"dlq[{self.partition}]@{self.offset}"
        return self.origin

    @property
    def root(self) -> bytes:
        """The original input a re-driven copy stands for (a copy of a copy names the first original)."""
        named = next((v for k, v in self.headers if k == REDRIVE_HEADER and v), None)
        return named or f"{self.source_topic}:{self.source_partition}:{self.source_offset}".encode()


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode(errors="replace")


def _int(value: bytes | None) -> int | None:
    try:
        return int(_text(value))
    except ValueError:
        return None


def parse(msg: Any) -> DeadLetter:
    own: Headers = []
    found: dict[str, bytes | None] = {}
    for name, value in msg.headers() or ():
        if name in _DLQ_HEADERS:
            found[name] = value
        else:
            own.append((name, value))
    return DeadLetter(
        partition=msg.partition(), offset=msg.offset(), timestamp=msg.timestamp()[1], key=msg.key(),
        value=msg.value(), headers=own, error=_text(found.get(policy.H_ERROR)),
        error_type=_text(found.get(policy.H_ERROR_TYPE)), component=_text(found.get(policy.H_COMPONENT)),
        source_topic=_text(found.get(policy.H_TOPIC)) or None, source_partition=_int(found.get(policy.H_PARTITION)),
        source_offset=_int(found.get(policy.H_OFFSET)), failed_at=_int(found.get(policy.H_TIMESTAMP)),
        dropped=_text(found[policy.H_DROPPED]) if policy.H_DROPPED in found else None,
    )


def read(consumer: Consumer, topic: str, lows: dict[int, int], start: dict[int, int] | None = None
         ) -> Iterator[DeadLetter]:
    """Dead letters of every partition (``lows``: each one's first offset), in order, from ``start``
    (default: the beginning)."""
    for partition, low in sorted(lows.items()):
        begin = max(low, (start or {}).get(partition, low))
        for msg in scan(consumer, topic, partition, begin):
            yield parse(msg)


@dataclass
class Ledger:
    """What the ledger says: how each handled origin was dealt with."""

    origins: dict[str, Status] = field(default_factory=dict)
    #: (DLQ partition, offset) of dead letters an older ledger, keyed by DLQ position, names as re-driven.
    positions: set[tuple[int, int]] = field(default_factory=set)

    def count(self, status: Status) -> int:
        return sum(1 for s in self.origins.values() if s == status)


def _origin_key(origin_id: str) -> bytes:
    return b"o:" + origin_id.encode()


def read_ledger(consumer: Consumer, ledger_topic: str, exists: bool) -> Ledger:
    ledger = Ledger()
    if not exists:
        return ledger
    for msg in scan(consumer, ledger_topic, 0, 0):
        key = msg.key().decode()
        if key.startswith("o:"):
            if msg.value() is None:
                ledger.origins.pop(key[2:], None)
            else:
                status = orjson.loads(msg.value()).get("status", "re-driven")
                ledger.origins[key[2:]] = "skipped" if status == "skipped" else "re-driven"
        elif msg.value() is not None:
            partition, offset = key.split(":")
            ledger.positions.add((int(partition), int(offset)))
    return ledger


@dataclass
class Origin:
    """The dead letters of one input: ``letters[0]`` is the one re-driven."""

    id: str
    letters: list[DeadLetter] = field(default_factory=list)

    @property
    def first(self) -> DeadLetter:
        return self.letters[0]

    @property
    def last(self) -> DeadLetter:
        return self.letters[-1]


def group(letters: Iterable[DeadLetter]) -> list[Origin]:
    """Dead letters grouped by origin, in the order of each origin's first dead letter."""
    found: dict[str, Origin] = {}
    for letter in letters:
        found.setdefault(letter.origin_id, Origin(letter.origin_id)).letters.append(letter)
    return list(found.values())


def status_of(origin: Origin, ledger: Ledger, start: dict[int, int]) -> Status:
    """Its status: from the ledger, or re-driven when a copy is below the group offset (older ledgers)."""
    known = ledger.origins.get(origin.id)
    if known is not None:
        return known
    for letter in origin.letters:
        if letter.offset < start.get(letter.partition, 0) or (letter.partition, letter.offset) in ledger.positions:
            return "re-driven"
    return "pending"


@dataclass
class RedrivePlan:
    """What one ``dlq replay`` (or ``dlq skip``) run does: the origins to handle and the group offsets afterwards."""

    origins: list[Origin] = field(default_factory=list)
    #: Origins not selected, left pending.
    passed_over: int = 0
    #: Dead letters read whose origin was handled before (a later copy, or an older ledger's entry).
    already: int = 0
    new_offsets: dict[int, int] = field(default_factory=dict)

    @property
    def letters(self) -> list[DeadLetter]:
        """The dead letter re-driven for each origin."""
        return [origin.first for origin in self.origins]

    @property
    def copies(self) -> int:
        return sum(len(origin.letters) for origin in self.origins)


def plan_redrive(letters: Iterable[DeadLetter], ledger: Ledger, start: dict[int, int],
                 select: Callable[[DeadLetter], bool]) -> RedrivePlan:
    """Pick the origins to handle (those with a dead letter ``select`` accepts, not handled before); the
    group offset advances over the prefix of dead letters that are then dealt with."""
    plan = RedrivePlan()
    chosen: dict[str, Origin] = {}
    passed: set[str] = set()
    blocked: set[int] = set()
    for letter in letters:
        p = letter.partition
        origin_id = letter.origin_id
        handled = True
        if origin_id in chosen:
            chosen[origin_id].letters.append(letter)
        elif origin_id in ledger.origins or (p, letter.offset) in ledger.positions \
                or letter.offset < start.get(p, 0):
            plan.already += 1
        elif select(letter):
            chosen[origin_id] = Origin(origin_id, [letter])
            plan.origins.append(chosen[origin_id])
            passed.discard(origin_id)
        else:
            passed.add(origin_id)
            handled = False
        if not handled:
            blocked.add(p)
        elif p not in blocked:
            plan.new_offsets[p] = letter.offset + 1
    plan.passed_over = len(passed)
    for p, offset in start.items():
        plan.new_offsets.setdefault(p, offset)
    return plan


def selector(filter_error: str | None, offsets: tuple[int, int] | None = None) -> Callable[[DeadLetter], bool]:
    """``--filter-error`` (case-blind, on the error or its type) and ``--offsets FROM-TO`` (DLQ offsets), both
    when given."""
    def select(letter: DeadLetter) -> bool:
        if offsets is not None and not offsets[0] <= letter.offset <= offsets[1]:
            return False
        return letter.matches(filter_error)
    return select


def record_handled(producer: Producer, ledger_topic: str, origins: Iterable[Origin], status: Status,
                   on_delivery: Callable[[Any, Any], None], to: str | None = None) -> None:
    now = int(time.time() * 1000)
    for origin in origins:
        first = origin.first
        value: dict[str, Any] = {"status": status, "at": now, "dlq": [first.partition, first.offset],
                                 "copies": len(origin.letters)}
        if to is not None:
            value["to"] = to
        producer.produce(ledger_topic, value=orjson.dumps(value), key=_origin_key(origin.id), partition=0,
                         on_delivery=on_delivery)


def skip(producer: Producer, plan: RedrivePlan, ledger_topic: str) -> None:
    """Record every origin of the plan as handled without re-driving it; raises unless all are acknowledged."""
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(f"{msg.topic()}: {err}")

    record_handled(producer, ledger_topic, plan.origins, "skipped", on_delivery)
    remaining = producer.flush(60)
    if remaining or errors:
        raise RuntimeError(f"recording skipped dead letters failed: {remaining} unacknowledged, errors: {errors[:3]}; "
                           "the DLQ group did not move, so running the command again is safe")


def redrive(producer: Producer, plan: RedrivePlan, ledger_topic: str, to_topic: str | None,
            partitions_of: dict[str, int], guarded: Iterable[str] = ()) -> None:
    """Produce each origin's original back once (and its ledger record); raises unless all are acknowledged.

    ``guarded``: topics whose readers keep a re-drive guard (the topology's inputs). A copy going back to
    its own partition of one of them names its root original in a first header (runtime/redrive.py), so
    that it is applied only in place of that original.
    """
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(f"{msg.topic()}: {err}")

    guarded = set(guarded)
    for origin in plan.origins:
        letter = origin.first
        topic = to_topic or letter.source_topic
        if topic is None:
            raise ValueError(f"dead letter at offset {letter.offset} names no origin topic; use --to-topic")
        partition = -1
        if to_topic is None and letter.source_partition is not None \
                and letter.source_partition < partitions_of.get(topic, 0):
            partition = letter.source_partition
        # The origin header would make a downstream task take the message for an already-applied duplicate.
        headers: list[tuple[str, str | bytes | None]] = [
            (k, v) for k, v in letter.headers if k not in (ORIGIN_HEADER, REDRIVE_HEADER)]
        if partition >= 0 and topic in guarded:
            headers.insert(0, (REDRIVE_HEADER, letter.root))
        producer.produce(topic, value=letter.value, key=letter.key, partition=partition, on_delivery=on_delivery,
                         timestamp=letter.timestamp or 0, headers=headers or None)
        record_handled(producer, ledger_topic, [origin], "re-driven", on_delivery, topic)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or errors:
        raise RuntimeError(f"re-driving failed: {remaining} messages unacknowledged, errors: {errors[:3]}; the DLQ "
                           "group did not move, so running the command again re-drives what is missing")
