"""Each grouping answers for itself: its internal topic's kind, the fields it needs, the key and the partition."""

from __future__ import annotations

import pytest

from streamproc.components import Tuple
from streamproc.groupings import BY_KEY, EVERY, All, Custom, Fields, Global, LocalOrShuffle, Shuffle


def tup(value: object, key: object = "k") -> Tuple:
    return Tuple(key, value, "in", 0, 0, None, None, "default", "src")


def test_fields_key_is_the_fields_value_or_a_tuple_of_them() -> None:
    assert Fields(fields=("a",)).key(tup({"a": 1, "b": 2})) == 1
    assert Fields(fields=("a", "b")).key(tup({"a": 1, "b": 2})) == (1, 2)
    assert Fields(fields=("a",)).required_fields == ("a",)
    with pytest.raises(KeyError):
        Fields(fields=("c",)).key(tup({"a": 1}))
    with pytest.raises(TypeError):
        Fields(fields=("a",)).key(tup("text"))


@pytest.mark.parametrize("grouping", [Shuffle(), LocalOrShuffle(), All(), Global(), Custom(partitioner=lambda t, n: 0)])
def test_other_groupings_keep_the_tuples_key_and_need_no_fields(grouping: object) -> None:
    assert grouping.key(tup({"a": 1}, key="mine")) == "mine"  # type: ignore[attr-defined]
    assert grouping.required_fields == ()  # type: ignore[attr-defined]


def test_partitions_and_topic_kinds() -> None:
    assert Fields(fields=("a",)).partition(tup({"a": 1}), 4) == BY_KEY
    assert All().partition(tup(1), 4) == EVERY
    assert Global().partition(tup(1), 4) == 0
    assert Custom(partitioner=lambda t, n: t.value % n).partition(tup(7), 4) == 3
    assert [g.topic_suffix for g in (Fields(fields=("a",)), All(), Custom(), Global())] == [
        "repartition", "repartition", "repartition", "global"]
    assert (Shuffle().in_process, Fields().in_process, Global().single_partition) == (True, False, True)


@pytest.mark.parametrize("returned", [4, -1, "1", 1.0])
def test_a_custom_partition_outside_the_topic_is_refused(returned: object) -> None:
    with pytest.raises(ValueError, match=f"custom partitioner returned {returned!r}, outside 0..3"):
        Custom(partitioner=lambda t, n: returned).partition(tup(1), 4)  # type: ignore[arg-type,return-value]
