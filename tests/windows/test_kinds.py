"""Declaring window kinds: durations, bounds and the errors for bad arguments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from streamproc.errors import TopologyError
from streamproc.windows import CountSliding, CountTumbling, Hopping, Session, Sliding, Tumbling


def test_durations_are_timedeltas_or_int_milliseconds() -> None:
    assert Tumbling(size=timedelta(minutes=1), grace=timedelta(seconds=10)) == Tumbling(60_000, 10_000)
    assert Hopping(size=300_000, advance=timedelta(minutes=1), grace=0).advance == 60_000
    assert Session(gap=timedelta(minutes=30), grace=0).gap == 1_800_000
    assert Sliding(time_difference=10, grace=5).grace == 5


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Tumbling(size=0, grace=0), "Tumbling size must be > 0"),
    (lambda: Tumbling(size=10, grace=-1), "Tumbling grace must be >= 0"),
    (lambda: Tumbling(size=1.5, grace=0), "Tumbling size must be a datetime.timedelta or an int"),
    (lambda: Tumbling(size=True, grace=0), "Tumbling size must be a datetime.timedelta or an int"),
    (lambda: Tumbling(size=timedelta(microseconds=1500), grace=0), "whole number of milliseconds"),
    (lambda: Hopping(size=10, advance=20, grace=0), r"advance \(20 ms\) must not exceed size \(10 ms\)"),
    (lambda: Session(gap=10, grace=None), "Session grace must be"),
    (lambda: CountTumbling(0), "CountTumbling n must be an int >= 1"),
    (lambda: CountSliding(3, every=0), "CountSliding every must be an int >= 1"),
])
def test_bad_arguments_are_topology_errors_naming_them(make: Any, message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        make()


def test_grace_is_required() -> None:
    with pytest.raises(TypeError, match="grace"):
        Tumbling(size=10)  # type: ignore[call-arg]


@pytest.mark.parametrize(("ts", "starts"), [(0, [0]), (499, [0]), (500, [0, 500]), (1200, [500, 1000])])
def test_hopping_windows_of_a_time_start_at_multiples_of_advance(ts: int, starts: list[int]) -> None:
    assert list(Hopping(size=1000, advance=500, grace=0).starts(ts)) == starts
    assert list(Tumbling(size=1000, grace=0).starts(ts)) == [ts - ts % 1000]
