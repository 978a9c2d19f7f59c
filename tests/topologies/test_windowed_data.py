"""topologies/windowed_data.py: the examples' input is deterministic, out of order, and has late records."""

from __future__ import annotations

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
