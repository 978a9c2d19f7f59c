"""A fields-grouping value that cannot key the downstream task is an error naming the field and its type."""

from __future__ import annotations

from typing import Any

import pytest

from streamproc import JsonSerde, KafkaSpout, Topology
from streamproc.groupings import Fields
from streamproc.testing import TopologyTestDriver
from tests.support.bolts import Count


def grouped(*fields: str) -> Topology:
    topology = Topology("f")
    topology.spout("in", KafkaSpout("items", value_serde=JsonSerde()))
    topology.bolt("count", Count).fields("in", *fields)
    return topology


@pytest.mark.parametrize(("value", "expected"), [
    ({"word": None}, "field 'word' is None; a fields grouping needs a value to group by"),
    ({"word": {"a": 1}}, "field 'word' is a dict, which cannot be a grouping key"),
    ({"word": [[1], 2]}, "field 'word' is a list, which cannot be a grouping key"),
])
def test_a_bad_grouping_value_is_named_and_follows_the_policy(value: dict[str, Any], expected: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    with TopologyTestDriver(grouped("word"), on_error="dlq") as driver:
        driver.send("items", value)
        driver.send("items", {"word": "ok"})
        [letter] = driver.dead_letters()
        error = letter.error
        assert f"fields grouping of 'count': {expected}" in error
        assert driver.state("counts", "ok") == 1


def test_keys_that_work_pass() -> None:
    single, double = Fields(("a",)), Fields(("a", "b"))
    for key in ["s", 1, 2.5, True, [1, "x", None], (1, 2)]:
        assert single.key_problem(key) is None
    assert double.key_problem(("x", None)) is None
    assert double.key_problem(("x", [1])) == ("field 'b' is a list, which cannot be a grouping key (use a str, a "
                                              "number, or a list of them)")
