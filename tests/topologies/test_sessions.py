"""topologies/sessions.py in the TopologyTestDriver, against the brute-force oracle (tests/windows/oracle.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from streamproc.testing import TopologyTestDriver
from tests.topologies.examples import BASE, FAR, WALL, by_partition, identity, load_example, windowed_data
from tests.windows import oracle

example = load_example("sessions")
GAP = int(example.GAP.total_seconds() * 1000)
GRACE = int(example.GRACE.total_seconds() * 1000)
PARTITIONS = 2


def clicks(count: int = 1500, seed: int = 3) -> list[tuple[str, dict[str, Any], int]]:
    return windowed_data.clicks(count, users=30, seed=seed, start=BASE)


def expected(rows: list[tuple[str, dict[str, Any], int]]) -> tuple[dict[tuple[str, int, int], list[str]],
                                                                  Counter[tuple[Any, ...]]]:
    """The sessions ((user, start, end) -> pages) and the late clicks, once idle advance closed everything."""
    sessions: dict[tuple[str, int, int], list[str]] = {}
    late: Counter[tuple[Any, ...]] = Counter()
    for records in by_partition(rows, PARTITIONS).values():
        outcome = oracle.session(records, GAP, GRACE, advance_to=FAR)
        assert outcome.still_open == {}
        sessions.update(outcome.aggregate(lambda rs: [r.value["page"] for r in rs]))
        late.update(identity(r.value) for r in outcome.late)
    return sessions, late


def feed(driver: TopologyTestDriver, rows: list[tuple[str, dict[str, Any], int]]) -> None:
    for user, value, ts in rows:
        driver.send("clicks", value, key=user, timestamp=ts)


def close_every_session(driver: TopologyTestDriver) -> None:
    """Idle advance: no input for a while moves stream time on with the wall clock, past every session."""
    driver.advance_time(2)  # the inputs are seen idle
    driver.advance_time((FAR - WALL) / 1000)


def emitted(driver: TopologyTestDriver) -> list[tuple[tuple[str, int, int], int, list[str]]]:
    out = []
    for record in driver.output("sessions"):
        value = record.value
        assert record.key == value["user"]
        out.append(((value["user"], value["start"], value["end"]), value["page_count"], value["pages"]))
    return out


def test_every_session_is_emitted_once_as_the_oracle_computes_it() -> None:
    rows = clicks()
    sessions, late = expected(rows)
    assert late, "the input has late clicks"
    assert any(len(pages) > 1 for pages in sessions.values())
    with TopologyTestDriver(example.build(), partitions=PARTITIONS, wall_time=WALL, idle_advance=1) as driver:
        feed(driver, rows)
        assert len(emitted(driver)) < len(sessions), "the sessions still open at the end wait for stream time"
        close_every_session(driver)
        got = emitted(driver)
        assert Counter(window for window, _n, _pages in got) == Counter(dict.fromkeys(sessions, 1))
        for window, page_count, pages in got:
            assert page_count == len(pages)
            # A merge joins two sessions' pages in an order of its own: compare them as multisets.
            assert sorted(pages) == sorted(sessions[window]), window
        assert Counter(identity(r.value) for r in driver.output("clicks-late")) == late


def test_a_crash_with_lost_state_gives_the_same_sessions() -> None:
    rows = clicks(count=800, seed=5)
    sessions, _late = expected(rows)
    with TopologyTestDriver(example.build(), partitions=PARTITIONS, wall_time=WALL, idle_advance=1) as driver:
        feed(driver, rows[:300])
        driver.checkpoint()
        feed(driver, rows[300:500])  # processed, not committed: read again after the crash
        driver.crash(lose_state=True)
        feed(driver, rows[500:])
        close_every_session(driver)
        got = emitted(driver)
    first: dict[tuple[str, int, int], list[str]] = {}
    for window, _n, pages in got:
        assert first.setdefault(window, pages) == pages, f"a repeat of {window} differs"  # repeats: only identical
    assert {window: sorted(pages) for window, pages in first.items()} == \
        {window: sorted(pages) for window, pages in sessions.items()}
