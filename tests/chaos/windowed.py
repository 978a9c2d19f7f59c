"""The chaos suite's windowed workloads, checked against the oracle: ``windowed``, a per-minute count with final
emission (tumbling windows), and ``sessions``, a count per session (10 s gap) with final emission.

Input: ``keys`` keys, each message ``{"i": n}`` with an event time (its Kafka timestamp) that rises with n
over ``span`` of event time, most a little out of order (up to ``jitter`` ms early), a few (``late_share``)
far too early to fit any open window: late. Each key goes to one partition (key index mod partitions).
After the input, one ``flush`` record per partition moves that partition's stream time past every window's
close, so that every window of the input must have its final result.

The truth is computed independently of the framework: the input topic is read back partition by partition
(a task's arrival order is its partition's offset order), and the brute-force oracle
(tests/windows/oracle.py) replays each partition. The verdict: every closed window has a final; every final
carries the oracle's count; a window emitted more than once (at-least-once after a kill) carried the same
count every time; the late stream holds exactly the oracle's late records.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.kafka import read_all
from tests.windows import oracle

SIZE = 60_000
GRACE = 10_000
GAP = 10_000
#: The window of each workload, as the target declares it.
WINDOWS = {"windowed": f"Tumbling(size={SIZE}, grace={GRACE})", "sessions": f"Session(gap={GAP}, grace={GRACE})"}
#: The input's event times end this long before the driver starts: recent, so a broker's retention by timestamp
#: keeps them, and never ahead of a worker's wall clock (--max-future-skew).
BEFORE_NOW = 3_600_000

TARGET = '''
from streamproc import JsonSerde, KafkaSink, KafkaSpout, StrSerde, Topology
from streamproc.windows import Session, Tumbling, WindowedBolt, agg


class CountPerMinute(WindowedBolt):
    window = {window}
    aggregation = agg.count()
    emit_mode = "final"


topology = Topology({name!r})
topology.spout("in", KafkaSpout({source!r}, key_serde=StrSerde(), value_serde=JsonSerde()))
topology.bolt("count", CountPerMinute).shuffle("in")
topology.bolt("out", KafkaSink({sink!r}, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("count")
topology.bolt("late", KafkaSink({late!r}, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle(("count", "late"))
'''

WindowKey = tuple[str, int, int]


def write_target(path: Path, name: str, source: str, sink: str, late: str, workload: str = "windowed") -> None:
    """The topology file each member runs: TARGET under this run's names, with the workload's window."""
    path.write_text(TARGET.format(name=name, source=source, sink=sink, late=late, window=WINDOWS[workload]))


@dataclass(frozen=True)
class WindowedInput:
    """The input, deterministic per seed: ``messages`` records of ``keys`` keys over ``span`` ms of event time."""

    messages: int
    partitions: int
    now: int
    seed: int = 1
    keys: int = 60
    span: int = 3_600_000
    jitter: int = 15_000
    late_share: float = 0.005

    @property
    def base(self) -> int:
        return self.now - BEFORE_NOW - self.span - 2 * (SIZE + GRACE)

    def records(self) -> Iterator[tuple[bytes, bytes, int, int]]:
        """(key, value, partition, event time) of every input message, in the order to produce them."""
        rng = random.Random(self.seed)
        for n in range(self.messages):
            index = rng.randrange(self.keys)
            ts = self.base + n * self.span // self.messages
            ts -= 20 * 60_000 if rng.random() < self.late_share else rng.randrange(self.jitter + 1)
            yield f"k{index}".encode(), json.dumps({"i": n}).encode(), index % self.partitions, ts

    def flush(self) -> Iterator[tuple[bytes, bytes, int, int]]:
        """One record per partition past every window's close (its own window stays open: no final)."""
        for p in range(self.partitions):
            yield b"flush", json.dumps({"i": -1 - p}).encode(), p, self.base + self.span + 2 * (SIZE + GRACE)


@dataclass
class WindowedTruth:
    """The oracle's verdict on the input topic: the count of every window it closes, and the late record ids."""

    finals: dict[WindowKey, int]
    late: set[int]
    messages: int


def windowed_truth(bootstrap: str, source: str, client: Mapping[str, Any] | None = None,
                   workload: str = "windowed") -> WindowedTruth:
    """The oracle's finals and late records for what the input topic holds."""
    per_partition: dict[int, list[oracle.Event]] = {}
    records = read_all(bootstrap, source, timeout=120, client=client)
    for record in records:
        event = oracle.Event(record.key().decode(), json.loads(record.value())["i"], record.timestamp()[1])
        per_partition.setdefault(record.partition(), []).append(event)
    finals: dict[WindowKey, int] = {}
    late: set[int] = set()
    for events in per_partition.values():  # read_all keeps each partition's offset order
        outcome = oracle.tumbling(events, SIZE, GRACE) if workload == "windowed" else oracle.session(events, GAP, GRACE)
        finals.update(outcome.aggregate(len))
        late.update(e.value for e in outcome.late)
    return WindowedTruth(finals, late, len(records))


@dataclass
class WindowedVerdict:
    """What the output and late topics hold, compared with the truth."""

    outputs: int = 0
    #: Finals beyond the first of their window (at-least-once repetitions after a kill), all identical.
    repeats: int = 0
    missing: int = 0
    #: Windows whose final is not the oracle's count, or that the oracle has no final for: {window: (got, want)}.
    wrong: dict[WindowKey, tuple[list[int], int | None]] = field(default_factory=dict)
    late_seen: int = 0
    late_missing: int = 0
    late_unexpected: int = 0


def finals_seen(records: list[Any]) -> dict[WindowKey, list[int]]:
    """Every value emitted per window, in the order read (a partition's order: a window has one partition)."""
    seen: dict[WindowKey, list[int]] = {}
    for record in records:
        value = json.loads(record.value())
        if record.key().decode() != value["key"]:
            raise AssertionError(f"output key {record.key()!r} does not match its window {value!r}")
        seen.setdefault((value["key"], value["start"], value["end"]), []).append(value["value"])
    return seen


def verify_windows(bootstrap: str, sink: str, late_sink: str, truth: WindowedTruth,
                   client: Mapping[str, Any] | None = None) -> WindowedVerdict:
    """Read both topics to their end (after the members stopped) and compare them with ``truth``."""
    verdict = WindowedVerdict()
    seen = finals_seen(read_all(bootstrap, sink, timeout=300, client=client))
    for window, values in seen.items():
        verdict.outputs += len(values)
        verdict.repeats += len(values) - 1
        want = truth.finals.get(window)
        if any(v != want for v in values):
            verdict.wrong[window] = (values, want)
    verdict.missing = len(truth.finals.keys() - seen.keys())
    late = [json.loads(r.value())["i"] for r in read_all(bootstrap, late_sink, timeout=120, client=client)]
    verdict.late_seen = len(late)
    verdict.late_missing = len(truth.late - set(late))
    verdict.late_unexpected = len(set(late) - truth.late)
    return verdict
