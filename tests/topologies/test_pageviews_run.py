"""topologies/pageviews.py under `streamproc run` on a real broker, fed by its data generator: the per-minute and
5-minute finals and the late views are the oracle's, each final once; the quiet pages are alerted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.support.kafka import REPO, RunningTopology, TopicTail, read_all, unique, wait_for
from tests.topologies.examples import BASE, flush_keys, identity, windowed_data
from tests.topologies.test_pageviews import GRACE, MINUTE, expected

pytestmark = pytest.mark.integration

PARTITIONS = 3


def test_pageviews_through_a_worker_are_the_oracles(broker: str, tmp_path: Path) -> None:
    name = unique("pageviews")
    source = f"{name}-views"
    prefix = f"{name}-"
    rows = windowed_data.pageviews(1500, pages=8, minutes=40, seed=6, start=BASE)
    end = max(ts for _page, _value, ts in rows) + 5 * MINUTE + GRACE + 60 * MINUTE  # past every window and timer
    rows += [(page, {"page": page, "user": "flush", "ts": end}, end) for page in flush_keys(PARTITIONS)]
    truth = expected(rows, PARTITIONS, advance_to=-1)
    assert truth["late"]
    windowed_data.produce(broker, source, rows, partitions=PARTITIONS)

    target = tmp_path / "target.py"
    target.write_text(f"import sys\nsys.path.insert(0, {str(REPO / 'topologies')!r})\nfrom pageviews import build\n"
                      f"topology = build({name!r}, {source!r}, {prefix!r})\n")
    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log")
    tail = TopicTail(broker, f"{prefix}pageviews-per-5-minutes")
    try:
        def all_finals() -> bool:
            assert running.process.poll() is None, running.log()[-3000:]
            tail.poll()
            return len(tail.records) >= len(truth["five"])

        wait_for(all_finals, 120, f"{len(truth['five'])} 5-minute finals")
    finally:
        tail.close()
        assert running.stop() == 0, running.log()[-3000:]

    def finals(topic: str) -> Counter[tuple[tuple[str, int, int], int]]:
        values = [json.loads(r.value()) for r in read_all(broker, prefix + topic)]
        return Counter(((v["key"], v["start"], v["end"]), v["value"]) for v in values)

    assert finals("pageviews-per-minute") == Counter({(w, n): 1 for w, n in truth["minute"].items()})
    assert finals("pageviews-per-5-minutes") == Counter({(w, n): 1 for w, n in truth["five"].items()})
    late = Counter(identity(json.loads(r.value())) for r in read_all(broker, prefix + "pageviews-late"))
    assert late == truth["late"]
    # Alerts: a timer scheduled behind stream time fires at the worker's next loop iteration, which a batch can
    # postpone past a newer view of its page, so only what is certain is checked: every page the replay of the
    # timer rules alerts is alerted, and every alert names a view of its page.
    found = [json.loads(r.value()) for r in read_all(broker, prefix + "quiet-pages")]
    alerts = {(a["page"], a["last_view"]) for a in found}
    # The flush views' own timers are due after the input's end (the replay fires them at its end; the worker not).
    assert {page for page, _last in alerts} == {page for page, _last in truth["alerts"] if not page.startswith("flush")}
    views = {(page, ts) for page, _value, ts in rows}
    assert alerts <= views
