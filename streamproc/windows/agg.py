"""Aggregations of a WindowedBolt (``aggregation = agg.count()``): how a window's records fold into one value.

An aggregation keeps an *accumulator* per window, in the bolt's windowed store: it must be JSON-storable,
since it is state. ``init()`` makes an empty one, ``add(acc, tup)`` folds a record in and returns the new
accumulator (it may change a list in place and return it), ``merge(a, b)`` joins two (session windows
merging), and ``result(acc)`` is what the window's output carries.

``field`` picks what is aggregated: a key of the tuple's dict value, or a callable ``(tup) -> value``; None
aggregates the whole value.
"""

from __future__ import annotations

import builtins
import heapq
from collections.abc import Callable
from typing import Any

from streamproc.components import Tuple
from streamproc.errors import TopologyError

Field = str | Callable[[Tuple], Any] | None
Pick = Callable[[Tuple], Any]


def _pick(field: Field) -> Pick:
    if field is None:
        return lambda tup: tup.value
    if isinstance(field, str):
        return lambda tup: tup.value[field]
    if callable(field):
        return field
    raise TopologyError(f"an aggregation's field must be a key of the tuple's value (str), a callable (tup) -> value "
                        f"or None, got {field!r}")


class Aggregation:
    """What a window does with its records (see the module docstring)."""

    __slots__ = ("add", "check_acc", "check_value", "init", "merge", "name", "result")

    def __init__(self, name: str, init: Callable[[], Any], add: Callable[[Any, Tuple], Any],
                 merge: Callable[[Any, Any], Any] | None, result: Callable[[Any], Any] = lambda acc: acc, *,
                 check_value: Pick | None = None, check_acc: bool = False) -> None:
        self.name = name
        self.init = init
        self.add = add
        self.merge = merge
        self.result = result
        #: Accumulators keep the values this picks as they are: each is checked as storable *before* ``add``, which
        #: may change the accumulator in place, so that a value the store cannot keep fails its record only.
        self.check_value = check_value
        #: Accumulators are user-made: each new one is checked as storable.
        self.check_acc = check_acc

    def __repr__(self) -> str:
        return f"agg.{self.name}"


def count() -> Aggregation:
    """The number of records in the window."""
    return Aggregation("count()", lambda: 0, lambda acc, tup: acc + 1, lambda a, b: a + b)


def sum(field: Field = None) -> Aggregation:
    """The sum of the field's values (numbers)."""
    pick = _pick(field)
    return Aggregation("sum()", lambda: 0, lambda acc, tup: acc + pick(tup), lambda a, b: a + b)


def _extreme(name: str, better: Callable[[Any, Any], Any], field: Field) -> Aggregation:
    pick = _pick(field)

    def add(acc: Any, tup: Tuple) -> Any:
        value = pick(tup)
        return value if acc is None else better(acc, value)

    def merge(a: Any, b: Any) -> Any:
        return b if a is None else a if b is None else better(a, b)

    return Aggregation(name, lambda: None, add, merge, check_value=pick)


def min(field: Field = None) -> Aggregation:
    """The smallest of the field's values."""
    return _extreme("min()", builtins.min, field)


def max(field: Field = None) -> Aggregation:
    """The largest of the field's values."""
    return _extreme("max()", builtins.max, field)


def mean(field: Field = None) -> Aggregation:
    """The mean of the field's values (the accumulator is [sum, count])."""
    pick = _pick(field)

    def add(acc: list[Any], tup: Tuple) -> list[Any]:
        acc[0] += pick(tup)
        acc[1] += 1
        return acc

    return Aggregation("mean()", lambda: [0, 0], add, lambda a, b: [a[0] + b[0], a[1] + b[1]],
                       lambda acc: acc[0] / acc[1] if acc[1] else None)


def collect(field: Field = None) -> Aggregation:
    """Every value, in the order the records were processed."""
    pick = _pick(field)

    def add(acc: list[Any], tup: Tuple) -> list[Any]:
        acc.append(pick(tup))
        return acc

    return Aggregation("collect()", list, add, lambda a, b: a + b, list, check_value=pick)


def top_k(k: int, field: Field = None, by: str | Callable[[Any], Any] | None = None) -> Aggregation:
    """The ``k`` largest values, largest first, ranked by ``by`` (a key of each value, or a callable value -> rank;
    None: the value itself). Bounded: the accumulator never holds more than k values. Equal ranks keep the
    value processed first."""
    if type(k) is not int or k < 1:
        raise TopologyError(f"agg.top_k: k must be an int >= 1, got {k!r}")
    pick = _pick(field)
    if by is None:
        rank: Callable[[Any], Any] = lambda value: value  # noqa: E731
    elif isinstance(by, str):
        rank = lambda value: value[by]  # noqa: E731
    elif callable(by):
        rank = by
    else:
        raise TopologyError(f"agg.top_k: by must be a key (str), a callable value -> rank or None, got {by!r}")

    def best(values: list[Any]) -> list[Any]:
        return heapq.nlargest(k, values, key=rank)  # stable: the earlier of equal ranks comes first

    def add(acc: list[Any], tup: Tuple) -> list[Any]:
        acc.append(pick(tup))
        return best(acc) if len(acc) > k else sorted(acc, key=rank, reverse=True)

    return Aggregation(f"top_k({k})", list, add, lambda a, b: best(a + b), list, check_value=pick)


def reduce(fn: Callable[[Any, Any], Any], field: Field = None) -> Aggregation:
    """``fn(fn(v1, v2), v3)...`` over the field's values (None for an empty window). ``fn`` must return a
    JSON-storable value; the accumulator is [] or [value]."""
    if not callable(fn):
        raise TopologyError(f"agg.reduce needs a function (a, b) -> value, got {fn!r}")
    pick = _pick(field)

    def add(acc: list[Any], tup: Tuple) -> list[Any]:
        value = pick(tup)
        return [fn(acc[0], value) if acc else value]

    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        return [fn(a[0], b[0])] if a and b else a or b

    return Aggregation("reduce()", list, add, merge, lambda acc: acc[0] if acc else None, check_acc=True)


def custom(initializer: Callable[[], Any], aggregate: Callable[[Any, Any], Any],
           merge: Callable[[Any, Any], Any] | None = None) -> Aggregation:
    """A user aggregation: ``initializer()`` makes an empty accumulator, ``aggregate(acc, value)`` folds in a
    record's whole value and returns the new accumulator, ``merge(a, b)`` (required for Session windows) joins
    two. Accumulators must be JSON-storable (each new one is checked; one changed in place must stay storable);
    the output carries the accumulator as it is."""
    for name, fn in (("initializer", initializer), ("aggregate", aggregate)):
        if not callable(fn):
            raise TopologyError(f"agg.custom: {name} must be callable, got {fn!r}")
    if merge is not None and not callable(merge):
        raise TopologyError(f"agg.custom: merge must be callable or None, got {merge!r}")
    return Aggregation("custom()", initializer, lambda acc, tup: aggregate(acc, tup.value), merge, check_acc=True)
