"""Every window kind of streamproc.windows against the independent oracle (tests/windows/oracle.py), in the test
driver, on seeded out-of-order input with late records: the same finals, each once, and the same late records."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from streamproc import JsonSerde, KafkaSink, KafkaSpout, StrSerde, Topology
from streamproc.errors import TopologyError
from streamproc.testing import TopologyTestDriver
from streamproc.windows import CountSliding, CountTumbling, Hopping, Session, Sliding, Tumbling, WindowedBolt, agg
from tests.windows import oracle

BASE = 1_793_491_200_000  # 2026-11-01T00:00Z
WALL = BASE + 86_400_000


def make_input(seed: int, count: int = 150, keys: int = 3) -> list[oracle.Event]:
    """Records about a second apart, most up to 8 s out of order, 5% a minute early (late for most windows)."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        ts = BASE + i * 1000 - (60_000 if rng.random() < 0.05 else rng.randrange(8000))
        rows.append(oracle.Event(f"k{rng.randrange(keys)}", {"i": i}, max(BASE, ts)))
    return rows


def run(bolt: type[WindowedBolt], records: list[oracle.Event]) -> tuple[Counter[Any], Counter[int]]:
    """The finals ((key, start, end, sorted record ids) -> times emitted) and the late record ids, after idle
    advance closed every window."""
    topology = Topology("agreement")
    topology.spout("in", KafkaSpout("events", key_serde=StrSerde(), value_serde=JsonSerde()))
    topology.bolt("win", bolt).shuffle("in")
    topology.bolt("out", KafkaSink("out", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("win")
    topology.bolt("late", KafkaSink("late", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle(("win", "late"))
    with TopologyTestDriver(topology, wall_time=WALL, idle_advance=1) as driver:
        for record in records:
            driver.send("events", record.value, key=record.key, timestamp=record.time)
        driver.advance_time(2)
        driver.advance_time(30 * 86_400)
        finals = Counter((r.value["key"], r.value["start"], r.value["end"], tuple(sorted(r.value["value"])))
                         for r in driver.output("out"))
        late = Counter(r.value["i"] for r in driver.output("late"))
    return finals, late


def expected(outcome: oracle.Outcome, count_window: bool = False) -> tuple[Counter[Any], Counter[int]]:
    finals: Counter[Any] = Counter()
    for (key, start, end), records in outcome.finals.items():
        if count_window:  # the implementation reports a count window's event-time span, not positions
            start, end = min(r.time for r in records), max(r.time for r in records) + 1
        finals[(key, start, end, tuple(sorted(r.value["i"] for r in records)))] += 1
    return finals, Counter(r.value["i"] for r in outcome.late)


def windowed(kind: Any) -> type[WindowedBolt]:
    try:
        class Collect(WindowedBolt):
            window = kind
            aggregation = agg.collect("i")
            emit_mode = "final"
    except TopologyError as exc:
        if "not implemented" in str(exc):
            pytest.skip(str(exc))
        raise
    return Collect


FAR = BASE + 400 * 86_400_000

CASES: dict[str, tuple[Any, Callable[[list[oracle.Event]], oracle.Outcome]]] = {
    "tumbling": (Tumbling(size=10_000, grace=5_000), lambda rs: oracle.tumbling(rs, 10_000, 5_000, FAR)),
    "tumbling-no-grace": (Tumbling(size=7_000, grace=0), lambda rs: oracle.tumbling(rs, 7_000, 0, FAR)),
    "hopping": (Hopping(size=20_000, advance=5_000, grace=3_000),
                lambda rs: oracle.hopping(rs, 20_000, 5_000, 3_000, FAR)),
    "sliding": (Sliding(time_difference=5_000, grace=4_000), lambda rs: oracle.sliding(rs, 5_000, 4_000, FAR)),
    "session": (Session(gap=3_000, grace=2_000), lambda rs: oracle.session(rs, 3_000, 2_000, FAR)),
}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("case", sorted(CASES))
def test_time_windows_agree_with_the_oracle(case: str, seed: int) -> None:
    kind, compute = CASES[case]
    records = make_input(seed)
    want_finals, want_late = expected(compute(records))
    assert want_late, "the input has late records"
    finals, late = run(windowed(kind), records)
    assert finals == want_finals
    assert late == want_late


@pytest.mark.parametrize("kind", ["count-tumbling", "count-sliding"])
def test_count_windows_agree_with_the_oracle(kind: str) -> None:
    records = make_input(4)
    if kind == "count-tumbling":
        bolt, outcome = windowed(CountTumbling(4)), oracle.count_tumbling(records, 4)
    else:
        bolt, outcome = windowed(CountSliding(5, every=2)), oracle.count_sliding(records, 5, every=2)
    want_finals, _late = expected(outcome, count_window=True)
    finals, late = run(bolt, records)
    assert finals == want_finals
    assert not late
