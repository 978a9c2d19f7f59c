"""Planning a replay: where each input partition's committed offset moves, and how much is reprocessed.

Planning only reads. Applying (``apply_offsets``) is a separate step the command takes after the
operator has seen the plan, so ``--dry-run`` shows exactly what would be done.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streamproc.errors import ConfigError
from streamproc.kafka.reading import true_watermarks
from streamproc.kafka.timestamps import offset_for_time
from streamproc.runtime.dedupe import REPLAY_HEADER

TargetKind = Literal["earliest", "latest", "datetime", "offset", "shift"]


@dataclass(frozen=True)
class Target:
    """Where to move: ``value`` is epoch milliseconds (datetime), an offset, or a shift."""

    kind: TargetKind
    value: int = 0

    def describe(self) -> str:
        if self.kind == "datetime":
            return "first record at or after " + datetime.fromtimestamp(self.value / 1000, UTC).isoformat()
        if self.kind == "offset":
            return f"offset {self.value}"
        if self.kind == "shift":
            return f"committed offset {self.value:+d}"
        return self.kind


@dataclass(frozen=True)
class OffsetMove:
    topic: str
    partition: int
    current: int | None  # committed offset; None when the group never committed this partition
    new: int
    low: int
    high: int

    @property
    def to_reprocess(self) -> int:
        """Messages read again (negative: messages skipped). A partition never committed starts at ``low``."""
        start = self.current if self.current is not None else self.low
        return start - self.new


_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration of days and time (``PT1H``, ``P1DT12H``, ``PT90S``)."""
    match = _DURATION.match(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ConfigError(f"--by-duration {text!r}: expected an ISO 8601 duration such as PT1H, PT30M or P1DT12H")
    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    return timedelta(**parts)


def parse_datetime(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 date-time; without a UTC offset it is local time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(f"--to-datetime {text!r}: expected ISO 8601, e.g. 2026-11-21T08:00:00Z") from exc
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp() * 1000)


def time_target(when_ms: int, now_ms: int | None = None) -> Target:
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    if when_ms > now_ms:
        moment = datetime.fromtimestamp(when_ms / 1000, UTC).isoformat()
        raise ConfigError(f"{moment} is in the future: nothing was written after it yet, so there is nothing to replay")
    return Target("datetime", when_ms)


def select_partitions(inputs: dict[str, int], selections: Sequence[str]) -> list[tuple[str, int]]:
    """Input partitions named by ``--topic T[:P]`` (all of them when none is given)."""
    if not selections:
        return [(t, p) for t, n in sorted(inputs.items()) for p in range(n)]
    chosen: list[tuple[str, int]] = []
    for selection in selections:
        topic, sep, part = selection.rpartition(":") if ":" in selection else (selection, "", "")
        if topic not in inputs:
            raise ConfigError(f"--topic {selection!r}: {topic!r} is not an input of this topology "
                              f"(its inputs: {', '.join(sorted(inputs))})")
        if sep:
            if not part.isdigit() or int(part) >= inputs[topic]:
                raise ConfigError(f"--topic {selection!r}: {topic!r} has partitions 0..{inputs[topic] - 1}")
            chosen.append((topic, int(part)))
        else:
            chosen.extend((topic, p) for p in range(inputs[topic]))
    return sorted(set(chosen))


def plan_moves(consumer: Consumer, partitions: Sequence[tuple[str, int]], committed: dict[tuple[str, int], int],
               target: Target, advance: Callable[[int], None] = lambda n: None) -> list[OffsetMove]:
    moves = []
    for topic, partition in partitions:
        low, high = true_watermarks(consumer, topic, partition)
        current = committed.get((topic, partition))
        moves.append(OffsetMove(topic, partition, current, _new_offset(consumer, topic, partition, current, low,
                                                                       high, target), low, high))
        advance(1)
    return moves


def _new_offset(consumer: Consumer, topic: str, partition: int, current: int | None, low: int, high: int,
                target: Target) -> int:
    if target.kind == "earliest":
        return low
    if target.kind == "latest":
        return high
    if target.kind == "offset":
        if not low <= target.value <= high:
            raise ConfigError(f"--to-offset {target.value} is out of range for {topic}[{partition}], which holds "
                              f"offsets {low}..{high} (use {high} for its end)")
        return target.value
    if target.kind == "shift":
        start = current if current is not None else low
        return min(high, max(low, start + target.value))
    return offset_for_time(consumer, topic, partition, target.value, low, high)


def apply_offsets(admin: AdminClient, group_id: str, offsets: dict[tuple[str, int], int]) -> None:
    """Set the group's committed offsets (Kafka refuses this while the group has members)."""
    if not offsets:
        return
    request = ConsumerGroupTopicPartitions(group_id, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())])
    try:
        result = admin.alter_consumer_group_offsets([request], request_timeout=30)[group_id].result()
    except KafkaException as exc:
        raise ConfigError(f"cannot move the offsets of group {group_id!r}: {exc.args[0]} (is a worker running?)"
                          ) from exc
    failed = [tp for tp in result.topic_partitions if tp.error is not None]
    if failed:
        listed = ", ".join(f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed)
        raise ConfigError(f"moving offsets failed for {listed}")


def write_barriers(producer: Producer, partitions: dict[str, int], rewound: Sequence[tuple[str, int]]) -> int:
    """A replay barrier on every partition of these internal topics (runtime/dedupe.py says why), naming the
    ``rewound`` input partitions: the records the replay derives from them are applied again downstream
    instead of being taken for a crash's copies. Returns the number written; raises ConfigError unless
    every one is acknowledged."""
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    named = ",".join(f"{topic}:{partition}" for topic, partition in sorted(rewound)).encode()
    count = 0
    for topic, n in sorted(partitions.items()):
        for partition in range(n):
            producer.produce(topic, value=None, key=None, partition=partition, headers=[(REPLAY_HEADER, named)],
                             on_delivery=on_delivery)
            count += 1
    remaining = producer.flush(30)
    if remaining or errors:
        raise ConfigError(f"writing replay barriers failed ({remaining} unacknowledged, {errors[:3]}); run the "
                          "replay again: it is safe to repeat")
    return count
