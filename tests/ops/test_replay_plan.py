"""Pure logic of replay planning: durations, times, partition selection, offsets to reprocess."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streamproc.errors import ConfigError
from streamproc.ops.replay import OffsetMove, parse_datetime, parse_duration, select_partitions, time_target


@pytest.mark.parametrize(("text", "expected"), [
    ("PT1H", timedelta(hours=1)),
    ("pt30m", timedelta(minutes=30)),
    ("P1DT12H", timedelta(days=1, hours=12)),
    ("PT90S", timedelta(seconds=90)),
    ("P2D", timedelta(days=2)),
    ("PT0.5S", timedelta(seconds=0.5)),
])
def test_iso_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "1H", "an hour", "P1H", "PT1D", "P1DT"])
def test_bad_durations_name_the_format(text: str) -> None:
    with pytest.raises(ConfigError, match="ISO 8601 duration"):
        parse_duration(text)


def test_datetimes_with_and_without_an_offset() -> None:
    assert parse_datetime("2026-11-21T08:00:00Z") == 1795248000000
    assert parse_datetime("2026-11-21T09:00:00+01:00") == 1795248000000
    with pytest.raises(ConfigError, match="expected ISO 8601"):
        parse_datetime("yesterday")


def test_a_time_in_the_future_is_refused() -> None:
    assert time_target(1000, now_ms=2000).value == 1000
    with pytest.raises(ConfigError, match="is in the future"):
        time_target(3000, now_ms=2000)


def test_partition_selection() -> None:
    inputs = {"a": 2, "b": 3}
    assert select_partitions(inputs, []) == [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 2)]
    assert select_partitions(inputs, ["b:1", "a"]) == [("a", 0), ("a", 1), ("b", 1)]
    with pytest.raises(ConfigError, match="not an input of this topology"):
        select_partitions(inputs, ["c"])
    with pytest.raises(ConfigError, match=r"has partitions 0\.\.1"):
        select_partitions(inputs, ["a:2"])
    with pytest.raises(ConfigError, match=r"has partitions 0\.\.2"):
        select_partitions(inputs, ["b:x"])


def test_messages_to_reprocess() -> None:
    assert OffsetMove("t", 0, current=100, new=40, low=0, high=120).to_reprocess == 60
    assert OffsetMove("t", 0, current=100, new=120, low=0, high=120).to_reprocess == -20  # skipped
    assert OffsetMove("t", 0, current=None, new=30, low=10, high=50).to_reprocess == -20  # never committed: from low
