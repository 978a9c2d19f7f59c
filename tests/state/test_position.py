"""The position record's one encoding, and its merge rule."""

from __future__ import annotations

from streamproc.state.position import Position, parse_tp, tp_name


def test_entries_round_trip_and_an_update_writes_only_what_it_sets() -> None:
    position = Position(42, {("orders", 3): 7, ("a:b", 0): 1})
    assert Position.from_entries(position.to_entries().items()) == position
    assert Position.from_entries([]) == Position()
    assert set(Position(None, {("orders", 3): 8}).to_entries()) == {b"source:orders:3"}
    assert Position(5).to_entries() == {b"changelog_offset": (5).to_bytes(8, "big")}


def test_merge_replaces_the_offsets_it_names_and_keeps_the_others() -> None:
    base = Position(10, {("in", 0): 5, ("in", 1): 6})
    assert base.merged(Position(12)) == Position(12, {("in", 0): 5, ("in", 1): 6})
    assert base.merged(Position(None, {("in", 1): 9})) == Position(10, {("in", 0): 5, ("in", 1): 9})


def test_ahead_of_names_the_inputs_beyond_the_committed_offsets() -> None:
    position = Position(3, {("in", 0): 5, ("in", 1): 6})
    assert position.ahead_of({("in", 0): 5, ("in", 1): 6}) == {}
    assert position.ahead_of({("in", 0): 4}) == {("in", 0): 5, ("in", 1): 6}


def test_partition_names_split_at_the_last_colon() -> None:
    assert tp_name(("a.b-c", 12)) == "a.b-c:12"
    assert parse_tp("a.b-c:12") == ("a.b-c", 12)
