"""topologies/sessions.py under `streamproc run` on a real broker, fed by its data generator: the sessions and late
clicks that come out are the oracle's, each session once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.support.kafka import REPO, RunningTopology, TopicTail, read_all, unique, wait_for
from tests.topologies.examples import BASE, by_partition, flush_keys, identity, load_example, windowed_data
from tests.windows import oracle

pytestmark = pytest.mark.integration

example = load_example("sessions")
GAP = int(example.GAP.total_seconds() * 1000)
GRACE = int(example.GRACE.total_seconds() * 1000)
PARTITIONS = 3


def test_sessions_through_a_worker_are_the_oracles(broker: str, tmp_path: Path) -> None:
    name = unique("sessions")
    source, sink, late = f"{name}-clicks", f"{name}-sessions", f"{name}-late"
    rows = windowed_data.clicks(1200, users=40, seed=11, start=BASE)
    end = max(ts for _user, _value, ts in rows) + GAP + GRACE + 60_000
    rows += [(user, {"user": user, "page": "/", "ts": end}, end) for user in flush_keys(PARTITIONS)]
    truth: dict[tuple[str, int, int], list[str]] = {}
    late_truth: Counter[tuple[object, ...]] = Counter()
    for records in by_partition(rows, PARTITIONS).values():
        outcome = oracle.session(records, GAP, GRACE)
        assert len(outcome.still_open) == 1  # the flush click's own session
        truth.update(outcome.aggregate(lambda rs: sorted(r.value["page"] for r in rs)))
        late_truth.update(identity(r.value) for r in outcome.late)
    assert late_truth
    windowed_data.produce(broker, source, rows, partitions=PARTITIONS)

    target = tmp_path / "target.py"
    target.write_text(f"import sys\nsys.path.insert(0, {str(REPO / 'topologies')!r})\nfrom sessions import build\n"
                      f"topology = build({name!r}, {source!r}, {sink!r}, {late!r})\n")
    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log")
    tail = TopicTail(broker, sink)
    try:
        def all_sessions() -> bool:
            assert running.process.poll() is None, running.log()[-3000:]
            tail.poll()
            return len(tail.records) >= len(truth)

        wait_for(all_sessions, 120, f"{len(truth)} sessions")
    finally:
        tail.close()
        assert running.stop() == 0, running.log()[-3000:]
    got = [json.loads(r.value()) for r in read_all(broker, sink)]
    assert Counter((s["user"], s["start"], s["end"]) for s in got) == Counter(dict.fromkeys(truth, 1))
    assert all(sorted(s["pages"]) == truth[(s["user"], s["start"], s["end"])] and s["page_count"] == len(s["pages"])
               for s in got)
    assert Counter(identity(json.loads(r.value())) for r in read_all(broker, late)) == late_truth
