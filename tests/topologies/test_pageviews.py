"""topologies/pageviews.py in the TopologyTestDriver: window counts against the brute-force oracle
(tests/windows/oracle.py), quiet-page alerts against a replay of the timer rules."""

from __future__ import annotations

from collections import Counter
from typing import Any

from streamproc.testing import TopologyTestDriver
from tests.topologies.examples import BASE, FAR, WALL, by_partition, identity, load_example, windowed_data
from tests.windows import oracle
from tests.windows.oracle import Event

example = load_example("pageviews")
MINUTE = 60_000
GRACE = int(example.GRACE.total_seconds() * 1000)
QUIET = example.QuietPages.quiet_ms
PARTITIONS = 2
Rows = list[tuple[str, dict[str, Any], int]]


def views(count: int = 2000, seed: int = 2) -> Rows:
    return windowed_data.pageviews(count, pages=8, minutes=40, seed=seed, start=BASE)


def quiet_alerts(records: list[Event]) -> set[tuple[str, int]]:
    """(page, last view) of every alert QuietPages must raise on one partition: a timer at the newest view + QUIET
    per page, fired once stream time reaches it (before the record that moved stream time there, and at the
    latest before the next record), then, at the end, every timer left (idle advance passes them all)."""
    stream_time = -1
    newest: dict[str, int] = {}
    timers: dict[str, int] = {}
    alerts: set[tuple[str, int]] = set()

    def fire(now: int) -> None:
        for page, when in sorted(timers.items()):
            if when <= now:
                alerts.add((page, when - QUIET))
                del timers[page]

    for record in records:
        stream_time = max(stream_time, record.time)
        fire(stream_time)
        page = str(record.key)
        if record.time > newest.get(page, -1):
            newest[page] = record.time
            timers[page] = record.time + QUIET
        fire(stream_time)
    fire(FAR)
    return alerts


def expected(rows: Rows, partitions: int = PARTITIONS, advance_to: int = FAR) -> dict[str, Any]:
    """Per-minute and 5-minute finals ((page, start, end) -> views), late views and alerts, once stream time
    reached ``advance_to`` (or only what the input itself closes, if that is higher)."""
    minute: dict[Any, int] = {}
    five: dict[Any, int] = {}
    late: Counter[tuple[Any, ...]] = Counter()
    alerts: set[tuple[str, int]] = set()
    for records in by_partition(rows, partitions).values():
        per_minute = oracle.tumbling(records, MINUTE, GRACE, advance_to=advance_to)
        per_five = oracle.hopping(records, 5 * MINUTE, MINUTE, GRACE, advance_to=advance_to)
        minute.update(per_minute.aggregate(len))
        five.update(per_five.aggregate(len))
        late.update(identity(r.value) for r in per_minute.late + per_five.late)
        alerts |= quiet_alerts(records)
    return {"minute": minute, "five": five, "late": late, "alerts": alerts}


def windows(driver: TopologyTestDriver, topic: str) -> Counter[tuple[tuple[str, int, int], int]]:
    found: Counter[tuple[tuple[str, int, int], int]] = Counter()
    for record in driver.output(topic):
        value = record.value
        assert record.key == value["key"]
        found[((value["key"], value["start"], value["end"]), value["value"])] += 1
    return found


def test_window_counts_late_views_and_quiet_alerts_match_the_oracle() -> None:
    rows = views()
    truth = expected(rows)
    assert truth["late"], "the input has late views"
    quiet_pages = {page for page, last in truth["alerts"] if last < BASE + 20 * MINUTE}
    assert len(quiet_pages) >= 2, "the generator's quiet pages raise alerts mid-stream"
    with TopologyTestDriver(example.build(), partitions=PARTITIONS, wall_time=WALL, idle_advance=1) as driver:
        for page, value, ts in rows:
            driver.send("pageviews", value, key=page, timestamp=ts)
        mid_stream = {(r.value["page"], r.value["last_view"]) for r in driver.output("quiet-pages")}
        assert {page for page, _last in mid_stream} >= quiet_pages
        driver.advance_time(2)
        driver.advance_time((FAR - WALL) / 1000)  # idle advance closes every window and fires every timer
        assert windows(driver, "pageviews-per-minute") == Counter({(w, n): 1 for w, n in truth["minute"].items()})
        assert windows(driver, "pageviews-per-5-minutes") == Counter({(w, n): 1 for w, n in truth["five"].items()})
        assert Counter(identity(r.value) for r in driver.output("pageviews-late")) == truth["late"]
        alerts = [(r.value["page"], r.value["last_view"]) for r in driver.output("quiet-pages")]
        assert len(alerts) == len(set(alerts)), "each timer fires once"
        assert set(alerts) == truth["alerts"]
        assert all(r.value["quiet_ms"] == QUIET for r in driver.output("quiet-pages"))


def test_a_crash_mid_window_repeats_finals_only_identically() -> None:
    rows = views(count=600, seed=4)
    truth = expected(rows)
    with TopologyTestDriver(example.build(), partitions=PARTITIONS, wall_time=WALL, idle_advance=1) as driver:
        for index, (page, value, ts) in enumerate(rows):
            driver.send("pageviews", value, key=page, timestamp=ts)
            if index == 200:
                driver.checkpoint()
            if index == 400:
                driver.crash()  # 200 views processed since the checkpoint: processed again from the local store
        driver.advance_time(2)
        driver.advance_time((FAR - WALL) / 1000)
        for topic, want in (("pageviews-per-minute", truth["minute"]), ("pageviews-per-5-minutes", truth["five"])):
            got = windows(driver, topic)
            assert {w: n for (w, n) in got} == want, topic
            assert len({w for (w, _n) in got}) == len(got), f"{topic}: a repeated final differs from the first"
