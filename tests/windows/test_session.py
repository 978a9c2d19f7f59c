"""Session windows in the test driver: gaps, bridging merges, closing, late records, restores."""

from __future__ import annotations

import pytest

from streamproc.errors import TopologyError
from streamproc.windows import Session, WindowedBolt, agg
from tests.windows.support import driver, results


class Pages(WindowedBolt):
    window = Session(gap=100, grace=500)
    aggregation = agg.collect("page")
    emit_mode = "final"


class PagesUpdates(WindowedBolt):
    window = Session(gap=100, grace=10)
    aggregation = agg.count()


def test_records_within_the_gap_form_one_session_closed_after_last_plus_gap_plus_grace() -> None:
    with driver(Pages) as d:
        d.send("events", {"page": "p1"}, key="u", timestamp=1000)
        d.send("events", {"page": "p2"}, key="u", timestamp=1100)  # gap inclusive: joins
        d.send("events", {"page": "p3"}, key="u", timestamp=1201)  # 101 after: a new session
        d.send("events", {"page": "x"}, key="v", timestamp=1700)  # 1100 + 100 + 500 = 1700: still open
        assert results(d) == []
        d.send("events", {"page": "x"}, key="v", timestamp=1701)  # passed: closes
        assert results(d) == [("u", 1000, 1100, ["p1", "p2"])]
        assert d.output("out")[0].timestamp == 1100
        d.send("events", {"page": "x"}, key="v", timestamp=1802)
        assert results(d)[1:] == [("u", 1201, 1201, ["p3"])]


def test_a_record_bridging_two_sessions_merges_them_in_start_order() -> None:
    with driver(Pages) as d:
        d.send("events", {"page": "a"}, key="u", timestamp=1000)
        d.send("events", {"page": "c"}, key="u", timestamp=1200)
        d.send("events", {"page": "b"}, key="u", timestamp=1100)  # within 100 of both
        assert d.tasks[(0, 0)].time.windows["win"].open == 1
        d.send("events", {"page": "z"}, key="v", timestamp=5000)
        assert results(d) == [("u", 1000, 1200, ["a", "c", "b"])]


def test_updates_emit_the_session_as_it_grows_and_only_open_sessions_merge() -> None:
    with driver(PagesUpdates) as d:
        for ts in (1000, 1050, 1300, 1200):  # 1300 closes [1000, 1050] (at 1161); 1200 joins only [1300, 1300]
            d.send("events", {}, key="u", timestamp=ts)
        assert results(d) == [("u", 1000, 1000, 1), ("u", 1000, 1050, 2), ("u", 1300, 1300, 1), ("u", 1200, 1300, 2)]


def test_a_record_whose_session_would_be_closed_is_late() -> None:
    with driver(Pages) as d:
        d.send("events", {"page": "a"}, key="u", timestamp=1000)
        d.send("events", {"page": "b"}, key="v", timestamp=1700)  # u's session closes at 1601
        d.send("events", {"page": "late"}, key="u", timestamp=1050)  # would close at 1651 <= 1700
        d.send("events", {"page": "ok"}, key="v", timestamp=1650)  # joins v's open session
        assert [r.value for r in d.output("late")] == [{"page": "late"}]
        d.send("events", {"page": "z"}, key="w", timestamp=9000)
        assert results(d) == [("u", 1000, 1000, ["a"]), ("v", 1650, 1700, ["b", "ok"])]


@pytest.mark.parametrize("lose_state", [False, True])
def test_open_sessions_survive_a_restore(lose_state: bool) -> None:
    with driver(Pages) as d:
        d.send("events", {"page": "a"}, key="u", timestamp=1000)
        d.send("events", {"page": "c"}, key="u", timestamp=1200)
        d.checkpoint()
        d.crash(lose_state=lose_state)
        d.send("events", {"page": "b"}, key="u", timestamp=1100)  # still merges the two restored sessions
        d.send("events", {"page": "z"}, key="v", timestamp=5000)
        assert results(d) == [("u", 1000, 1200, ["a", "c", "b"])]


def test_a_session_aggregation_needs_a_merge() -> None:
    with pytest.raises(TopologyError, match="needs a merge"):
        class NoMerge(WindowedBolt):
            window = Session(gap=10, grace=0)
            aggregation = agg.custom(dict, lambda acc, value: acc)


def test_sessions_opened_merged_and_closed_between_checkpoints_cost_no_changelog_record() -> None:
    with driver(Pages) as d:
        d.send("events", {"page": "a"}, key="u", timestamp=1000)
        d.send("events", {"page": "c"}, key="u", timestamp=1200)
        d.checkpoint()  # both stored
        d.send("events", {"page": "b"}, key="u", timestamp=1100)  # merges them: 1200's entry is deleted
        d.send("events", {"page": "x"}, key="w", timestamp=1300)
        d.send("events", {"page": "y"}, key="w", timestamp=1350)
        d.send("events", {"page": "z"}, key="v", timestamp=5000)  # closes u's and w's sessions
        d.checkpoint()
        changelog = [(m.key(), m.value()) for m in d.records(d.plan.names.changelog("Pages.windows"))]
        keys = [k for k, _ in changelog]
        assert not any(b'"w"' in k for k in keys)  # opened and closed between two checkpoints
        assert sum(1 for k, v in changelog if b'"u"' in k and v is None) == 2  # u's two stored sessions: tombstones
        assert results(d) == [("u", 1000, 1200, ["a", "c", "b"]), ("w", 1300, 1350, ["x", "y"])]
        d.crash(lose_state=True)
        d.send("events", {"page": "z"}, key="v", timestamp=9000)
        assert results(d)[2:] == [("v", 5000, 5000, ["z"])]
