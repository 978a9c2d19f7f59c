"""Every window kind under `streamproc run` on a real broker: one worker runs a windowed bolt of each kind over the
same out-of-order input with late records, and each bolt's finals and late records are the independent oracle's
(tests/windows/oracle.py), each final once. The driver tests (tests/windows/test_oracle_agreement.py) check the
same against the same oracle without a broker; this checks the worker's path: real partitions, each with its own
stream time, RocksDB windowed stores, checkpoints while windows are open."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.kafka import RunningTopology, TopicTail, read_all, unique, wait_for
from tests.topologies.examples import flush_keys, windowed_data
from tests.windows import oracle
from tests.windows.test_oracle_agreement import BASE, expected, make_input

pytestmark = pytest.mark.integration

PARTITIONS = 2

#: Bolt name -> (the window as the target file writes it, the oracle's outcome for one partition's records).
KINDS: dict[str, tuple[str, Callable[[list[oracle.Event]], oracle.Outcome]]] = {
    "tumbling": ("Tumbling(size=10_000, grace=5_000)", lambda rs: oracle.tumbling(rs, 10_000, 5_000)),
    "hopping": ("Hopping(size=20_000, advance=5_000, grace=3_000)",
                lambda rs: oracle.hopping(rs, 20_000, 5_000, 3_000)),
    "sliding": ("Sliding(time_difference=5_000, grace=4_000)", lambda rs: oracle.sliding(rs, 5_000, 4_000)),
    "session": ("Session(gap=3_000, grace=2_000)", lambda rs: oracle.session(rs, 3_000, 2_000)),
    "count-tumbling": ("CountTumbling(4)", lambda rs: oracle.count_tumbling(rs, 4)),
    "count-sliding": ("CountSliding(5, every=2)", lambda rs: oracle.count_sliding(rs, 5, every=2)),
}

TARGET = '''
from streamproc import JsonSerde, KafkaSink, KafkaSpout, StrSerde, Topology
from streamproc.windows import CountSliding, CountTumbling, Hopping, Session, Sliding, Tumbling, WindowedBolt, agg

topology = Topology({name!r})
topology.spout("in", KafkaSpout({source!r}, key_serde=StrSerde(), value_serde=JsonSerde()))
'''

BOLT = '''

class {cls}(WindowedBolt):
    window = {window}
    aggregation = agg.collect("i")
    emit_mode = "final"


topology.bolt({bolt!r}, {cls}).shuffle("in")
topology.bolt({bolt!r} + "-out", KafkaSink({topic!r}, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle({bolt!r})
topology.bolt({bolt!r} + "-late", KafkaSink({late!r}, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle(
    ({bolt!r}, "late"))
'''


def test_every_window_kind_through_a_worker_is_the_oracles(broker: str, tmp_path: Path) -> None:
    name = unique("kinds")
    source = f"{name}-events"
    rows = [(e.key, e.value, e.time) for e in make_input(seed=7, count=400, keys=6)]
    # One record per partition, after the input, moves its stream time past every window (an hour before now:
    # within the worker's future-skew bound). It is in no closed window itself.
    end = max(int(time.time() * 1000) - 3_600_000, BASE + 86_400_000)
    rows += [(key, {"i": -1 - n}, end) for n, key in enumerate(flush_keys(PARTITIONS))]
    partitions: dict[int, list[oracle.Event]] = {p: [] for p in range(PARTITIONS)}
    for key, value, ts in rows:  # each task's stream time is its partition's: replay each on its own
        partitions[windowed_data.murmur2_partition(key, PARTITIONS)].append(oracle.Event(key, value, ts))

    truth: dict[str, tuple[Counter[Any], Counter[int]]] = {}
    for kind, (_window, compute) in KINDS.items():
        finals: Counter[Any] = Counter()
        late: Counter[int] = Counter()
        for records in partitions.values():
            part_finals, part_late = expected(compute(records), count_window=kind.startswith("count"))
            finals += part_finals
            late += part_late
        truth[kind] = (finals, late)
    assert all(finals for finals, _late in truth.values()) and truth["tumbling"][1], "finals and late records"

    target = tmp_path / "target.py"
    text = TARGET.format(name=name, source=source)
    for n, (kind, (window, _compute)) in enumerate(KINDS.items()):
        text += BOLT.format(cls=f"Kind{n}", window=window, bolt=kind, topic=f"{name}-{kind}",
                            late=f"{name}-{kind}-late")
    target.write_text(text)
    windowed_data.produce(broker, source, rows, partitions=PARTITIONS)

    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log")
    tails = {kind: TopicTail(broker, f"{name}-{kind}") for kind in KINDS}
    try:
        def all_finals() -> bool:
            assert running.process.poll() is None, running.log()[-3000:]
            for tail in tails.values():
                tail.poll()
            return all(len(tails[kind].records) >= sum(truth[kind][0].values()) for kind in KINDS)

        wait_for(all_finals, 180, "every kind's finals")
    finally:
        for tail in tails.values():
            tail.close()
        assert running.stop() == 0, running.log()[-3000:]

    for kind in KINDS:
        values = [json.loads(r.value()) for r in read_all(broker, f"{name}-{kind}")]
        finals = Counter((v["key"], v["start"], v["end"], tuple(sorted(v["value"]))) for v in values)
        late = Counter(json.loads(r.value())["i"] for r in read_all(broker, f"{name}-{kind}-late"))
        assert (kind, finals) == (kind, truth[kind][0])
        assert (kind, late) == (kind, truth[kind][1])
