"""The built-in aggregations: folding, merging and results, without a topology."""

from __future__ import annotations

from typing import Any

import pytest

from streamproc import Tuple
from streamproc.errors import TopologyError
from streamproc.windows import agg
from streamproc.windows.agg import Aggregation


def tup(value: Any) -> Tuple:
    return Tuple("k", value, "t", 0, 0, 0, None, "default", "in")


def fold(aggregation: Aggregation, values: list[Any]) -> Any:
    acc = aggregation.init()
    for value in values:
        acc = aggregation.add(acc, tup(value))
    return acc


def result(aggregation: Aggregation, values: list[Any]) -> Any:
    return aggregation.result(fold(aggregation, values))


VALUES = [{"n": 3, "w": "c"}, {"n": 1, "w": "a"}, {"n": 5, "w": "e"}, {"n": 1, "w": "b"}]


@pytest.mark.parametrize(("aggregation", "expected"), [
    (agg.count(), 4),
    (agg.sum("n"), 10),
    (agg.min("n"), 1),
    (agg.max("w"), "e"),
    (agg.mean("n"), 2.5),
    (agg.collect("w"), ["c", "a", "e", "b"]),
    (agg.top_k(2, "n"), [5, 3]),
    (agg.top_k(2, by="n"), [{"n": 5, "w": "e"}, {"n": 3, "w": "c"}]),
    (agg.top_k(3, by=lambda v: -v["n"]), [{"n": 1, "w": "a"}, {"n": 1, "w": "b"}, {"n": 3, "w": "c"}]),
    (agg.reduce(lambda a, b: a * b, lambda t: t.value["n"]), 15),
    (agg.custom(dict, lambda acc, v: {**acc, v["w"]: v["n"]}), {"c": 3, "a": 1, "e": 5, "b": 1}),
])
def test_each_aggregation_folds_values_in_order(aggregation: Aggregation, expected: Any) -> None:
    assert result(aggregation, VALUES) == expected


@pytest.mark.parametrize("aggregation", [agg.count(), agg.sum("n"), agg.min("n"), agg.max("n"), agg.mean("n"),
                                         agg.collect("n"), agg.top_k(2, "n"), agg.reduce(max, "n")])
def test_merging_two_halves_is_folding_the_whole(aggregation: Aggregation) -> None:
    assert aggregation.merge is not None
    merged = aggregation.merge(fold(aggregation, VALUES[:2]), fold(aggregation, VALUES[2:]))
    assert aggregation.result(merged) == result(aggregation, VALUES)


def test_empty_windows_have_neutral_results() -> None:
    assert [a.result(a.init()) for a in (agg.count(), agg.sum(), agg.min(), agg.mean(), agg.collect(),
                                         agg.reduce(max))] == [0, 0, None, None, [], None]


def test_top_k_is_bounded() -> None:
    aggregation = agg.top_k(3)
    acc = aggregation.init()
    for n in range(100):
        acc = aggregation.add(acc, tup(n))
        assert len(acc) <= 3
    assert aggregation.result(acc) == [99, 98, 97]


def test_collect_results_are_copies_not_the_state() -> None:
    aggregation = agg.collect()
    acc = fold(aggregation, [1])
    out = aggregation.result(acc)
    aggregation.add(acc, tup(2))
    assert out == [1]


@pytest.mark.parametrize(("make", "message"), [
    (lambda: agg.top_k(0), "k must be an int >= 1"),
    (lambda: agg.top_k(2, by=3), "by must be"),
    (lambda: agg.sum(field=3), "field must be"),
    (lambda: agg.reduce(None), "needs a function"),
    (lambda: agg.custom(None, lambda a, v: a), "initializer must be callable"),
])
def test_bad_arguments_are_topology_errors(make: Any, message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        make()
