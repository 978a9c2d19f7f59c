"""topologies/windowed_data.py: the examples' input is deterministic, out of order, and has late records."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.support.kafka import REPO, read_all, unique
from tests.topologies.examples import BASE, windowed_data
from tests.windows import oracle

MINUTE = 60_000


def out_of_order(rows: list[tuple[str, dict[str, object], int]]) -> int:
    """Records that arrive after a record with a later event time."""
    latest, count = -1, 0
    for _key, _value, ts in rows:
        count += ts < latest
        latest = max(latest, ts)
    return count


def test_clicks_are_deterministic_out_of_order_and_partly_late() -> None:
    rows = windowed_data.clicks(2000, users=50, seed=7, start=BASE)
    assert rows == windowed_data.clicks(2000, users=50, seed=7, start=BASE)
    assert rows != windowed_data.clicks(2000, users=50, seed=8, start=BASE)
    assert len(rows) == 2000 and all(value["ts"] == ts and value["user"] == key for key, value, ts in rows)
    assert out_of_order(rows) > len(rows) // 10
    outcome = oracle.session(oracle.events((k, v, t) for k, v, t in rows), 30 * MINUTE, 5 * MINUTE)
    assert 0 < len(outcome.late) < len(rows) // 20


def test_pageviews_leave_the_last_pages_quiet() -> None:
    rows = windowed_data.pageviews(3000, pages=6, minutes=30, seed=1, start=BASE, quiet=2)
    last_view: dict[str, int] = {}
    for page, _value, ts in rows:
        last_view[page] = max(ts, last_view.get(page, 0))
    quiet = sorted(last_view, key=last_view.__getitem__)[:2]
    assert all(last_view[page] < BASE + 10 * MINUTE for page in quiet)
    assert sum(last >= BASE + 25 * MINUTE for last in last_view.values()) == 4
    outcome = oracle.tumbling(oracle.events((k, v, t) for k, v, t in rows), MINUTE, 10_000)
    assert outcome.late and out_of_order(rows) > 0


def test_a_key_has_one_partition() -> None:
    assert windowed_data.murmur2_partition("user-1", 4) == windowed_data.murmur2_partition("user-1", 4)
    assert {windowed_data.murmur2_partition(f"user-{n}", 4) for n in range(50)} == {0, 1, 2, 3}


@pytest.mark.integration
def test_the_command_line_produces_recent_records_to_a_new_topic(broker: str) -> None:
    topic = unique("clicks")
    started = int(time.time() * 1000)
    command = [sys.executable, str(REPO / "topologies" / "windowed_data.py"), "clicks", "--bootstrap-servers", broker,
               "--topic", topic, "--count", "300"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = read_all(broker, topic)
    assert len(records) == 300
    stamps = [json.loads(r.value())["ts"] for r in records]
    assert all(r.timestamp()[1] == json.loads(r.value())["ts"] for r in records)
    assert started - 24 * 3_600_000 < min(stamps) and max(stamps) <= started  # recent, none in the future
    assert all(r.partition() == windowed_data.murmur2_partition(r.key().decode(), 4) for r in records)
