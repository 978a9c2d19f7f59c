"""Property tests: each window kind against a brute-force computation over generated out-of-order input.

The models below are deliberately naive (every window recomputed from scratch, lists scanned) and share no
code with streamproc.windows. After every record, the finals emitted so far must be exactly the model's
windows that have closed by then, and the late records exactly the model's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproc.windows import CountSliding, CountTumbling, Hopping, Session, Sliding, Tumbling, WindowedBolt, agg
from tests.windows.support import driver, results

Record = tuple[str, int, int]  # key, event time, value
Final = tuple[str, int, int, Any]

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def streams(draw: st.DrawFn, max_time: int = 3000) -> list[Record]:
    """Records mostly moving forward in time, with some far behind (late) and some jumps ahead."""
    records = []
    now = 0
    for i in range(draw(st.integers(1, 40))):
        step = draw(st.one_of(st.integers(0, 150), st.integers(-1500, 0), st.integers(0, 1000)))
        ts = min(max(1, now + step), max_time)  # the driver takes timestamp 0 for "none given"
        now = max(now, ts)
        records.append((draw(st.sampled_from("abc")), ts, i))
    return records


def run(bolt: type[WindowedBolt], records: list[Record], model: Any) -> None:
    """Feed ``records``; after each, compare the finals and late records with ``model(records so far)``."""
    with driver(bolt) as d:
        for i, (key, ts, value) in enumerate(records):
            d.send("events", {"n": value}, key=key, timestamp=ts)
            finals, late = model(records[: i + 1])
            assert sorted(results(d), key=repr) == sorted(finals, key=repr), f"after record {i}: {records[i]}"
            assert [r.value["n"] for r in d.output("late")] == late


# --- time windows -------------------------------------------------------------------------------------------------
def fixed_model(size: int, advance: int, grace: int) -> Any:
    def model(records: list[Record]) -> tuple[list[Final], list[int]]:
        stream = -1
        contents: dict[tuple[str, int], list[int]] = defaultdict(list)
        late = []
        for key, ts, value in records:
            stream = max(stream, ts)
            covering = [s for s in range(0, ts + 1) if s % advance == 0 and s <= ts < s + size]
            open_ = [s for s in covering if s + size + grace > stream]
            if not open_:
                late.append(value)
            for s in open_:
                contents[(key, s)].append(value)
        finals = [(k, s, s + size, values) for (k, s), values in contents.items() if s + size + grace <= stream]
        return finals, late

    return model


class TumblingCollect(WindowedBolt):
    window = Tumbling(size=500, grace=200)
    aggregation = agg.collect("n")
    emit_mode = "final"


class HoppingCollect(WindowedBolt):
    window = Hopping(size=600, advance=200, grace=100)
    aggregation = agg.collect("n")
    emit_mode = "final"


class TumblingNoGrace(WindowedBolt):
    window = Tumbling(size=300, grace=0)
    aggregation = agg.collect("n")
    emit_mode = "final"


@SETTINGS
@given(streams())
def test_tumbling_matches_the_model(records: list[Record]) -> None:
    run(TumblingCollect, records, fixed_model(500, 500, 200))


@SETTINGS
@given(streams())
def test_tumbling_without_grace_matches_the_model(records: list[Record]) -> None:
    run(TumblingNoGrace, records, fixed_model(300, 300, 0))


@SETTINGS
@given(streams())
def test_hopping_matches_the_model(records: list[Record]) -> None:
    run(HoppingCollect, records, fixed_model(600, 200, 100))


class TumblingUpdates(WindowedBolt):
    window = Tumbling(size=500, grace=200)
    aggregation = agg.sum("n")


@SETTINGS
@given(streams())
def test_updates_emit_once_per_window_a_record_changed_and_end_at_the_final(records: list[Record]) -> None:
    finals, late = fixed_model(500, 500, 200)([*records, ("z", 10**6, -1)])
    with driver(TumblingUpdates) as d:
        for key, ts, value in records:
            d.send("events", {"n": value}, key=key, timestamp=ts)
        got = results(d)
    assert len(got) == len(records) - len(late)
    last = {(k, s): v for k, s, _, v in got}
    assert last == {(k, s): sum(values) for k, s, _, values in finals if k != "z"}


# --- sessions -----------------------------------------------------------------------------------------------------
def session_model(gap: int, grace: int) -> Any:
    def model(records: list[Record]) -> tuple[list[Final], list[int]]:
        stream = -1
        open_: dict[str, list[tuple[int, int, list[int]]]] = defaultdict(list)  # key -> [(first, last, values)]
        finals: list[Final] = []
        late = []

        def close_due() -> None:
            for k, sessions in open_.items():
                for s in [s for s in sessions if s[1] + gap + grace < stream]:
                    sessions.remove(s)
                    finals.append((k, s[0], s[1], s[2]))

        for key, ts, value in records:
            stream = max(stream, ts)
            close_due()
            touching = sorted(s for s in open_[key] if ts - gap <= s[1] and s[0] <= ts + gap)
            first = min([ts] + [s[0] for s in touching])
            last = max([ts] + [s[1] for s in touching])
            if last + gap + grace < stream:
                late.append(value)
                continue
            for s in touching:
                open_[key].remove(s)
            open_[key].append((first, last, [v for s in touching for v in s[2]] + [value]))
        return finals, late

    return model


class Sessions(WindowedBolt):
    window = Session(gap=150, grace=100)
    aggregation = agg.collect("n")
    emit_mode = "final"


@SETTINGS
@given(streams())
def test_sessions_match_the_model(records: list[Record]) -> None:
    run(Sessions, records, session_model(150, 100))


# --- sliding windows ---------------------------------------------------------------------------------------------
def sliding_model(d: int, grace: int) -> Any:
    """Every step recomputes from scratch the windows the arrived records define: for each record time t, [t - d, t]
    ([0, d] below d) and [t + 1, t + 1 + d] if a record falls in it. A window opens when first defined unless already
    closed, and emits at its close what arrived in it, in (time, arrival) order."""

    def defined(arrived: list[Record]) -> set[tuple[str, int]]:
        found = set()
        for key, t, _ in arrived:
            found.add((key, max(0, t - d)))
            if any(k == key and t < u <= t + 1 + d for k, u, _ in arrived):
                found.add((key, t + 1))
        return found

    def model(records: list[Record]) -> tuple[list[Final], list[int]]:
        stream = -1
        arrived: list[Record] = []
        seen: set[tuple[str, int]] = set()
        open_: set[tuple[str, int]] = set()
        finals: list[Final] = []
        late = []
        for key, ts, value in records:
            stream = max(stream, ts)
            for k, s in sorted(open_):
                if s + d + 1 + grace <= stream:
                    open_.remove((k, s))
                    inside = sorted((u, v) for kk, u, v in arrived if kk == k and s <= u <= s + d)
                    finals.append((k, s, s + d, [v for _, v in sorted(inside, key=lambda uv: uv[0])]))
            if ts + d + grace < stream:
                late.append(value)
                continue
            arrived.append((key, ts, value))
            for window in defined(arrived) - seen:
                seen.add(window)
                if window[1] + d + 1 + grace > stream:
                    open_.add(window)
        return finals, late

    return model


class SlidingCollect(WindowedBolt):
    window = Sliding(time_difference=200, grace=100)
    aggregation = agg.collect("n")
    emit_mode = "final"


@SETTINGS
@given(streams())
def test_sliding_matches_the_model(records: list[Record]) -> None:
    run(SlidingCollect, records, sliding_model(200, 100))


# --- count windows ------------------------------------------------------------------------------------------------
class CountThree(WindowedBolt):
    window = CountTumbling(3)
    aggregation = agg.collect("n")


class CountLastFour(WindowedBolt):
    window = CountSliding(4, every=3)
    aggregation = agg.collect("n")


def count_model(n: int, every: int | None) -> Any:
    def model(records: list[Record]) -> tuple[list[Final], list[int]]:
        seen: dict[str, list[tuple[int, int]]] = defaultdict(list)
        finals: list[Final] = []
        for key, ts, value in records:
            seen[key].append((ts, value))
            mine = seen[key]
            if len(mine) % (n if every is None else every):
                continue
            window = mine[-n:]
            finals.append((key, min(t for t, _ in window), max(t for t, _ in window) + 1, [v for _, v in window]))
        return finals, []

    return model


@SETTINGS
@given(streams())
def test_count_tumbling_matches_the_model(records: list[Record]) -> None:
    run(CountThree, records, count_model(3, None))


@SETTINGS
@given(streams())
def test_count_sliding_matches_the_model(records: list[Record]) -> None:
    run(CountLastFour, records, count_model(4, 3))


# --- crashes -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("bolt", "model"), [
    (TumblingCollect, fixed_model(500, 500, 200)),
    (Sessions, session_model(150, 100)),
    (SlidingCollect, sliding_model(200, 100)),
], ids=["tumbling", "session", "sliding"])
@SETTINGS
@given(records=streams(), data=st.data())
def test_a_crash_anywhere_gives_the_same_finals(bolt: type[WindowedBolt], model: Any, records: list[Record],
                                                data: st.DataObject) -> None:
    checkpoint_at = data.draw(st.integers(0, len(records)))
    crash_at = data.draw(st.integers(checkpoint_at, len(records)))
    lose_state = data.draw(st.booleans())
    expected, _ = model([*records, ("z", 10**6, -1)])
    with driver(bolt) as d:
        for i, (key, ts, value) in enumerate(records):
            if i == checkpoint_at:
                d.checkpoint()
            if i == crash_at:
                d.crash(lose_state=lose_state)  # what came after the checkpoint is read again
            d.send("events", {"n": value}, key=key, timestamp=ts)
        d.send("events", {"n": -1}, key="z", timestamp=10**6)
        got = results(d)
    # Finals emitted between the checkpoint and the crash come out again after it (at-least-once, as every output in
    # the driver); every copy is identical, and nothing is missing.
    assert sorted(set(map(repr, got))) == sorted(map(repr, (f for f in expected if f[0] != "z")))
