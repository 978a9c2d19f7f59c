"""Storm's groupings, and whether each keeps a tuple on its partition or moves it through a topic.

Shuffle keeps the tuple in-process: the partition is already the unit of parallelism, so any
task is as good as another and the cheapest is the current one. Every other grouping needs the
tuple to reach a particular partition, so the topology is cut there and the tuple travels
through an internal topic (see ``streamproc.plan``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamproc.serde.base import Serde

if TYPE_CHECKING:
    from streamproc.components import Tuple

#: A custom grouping picks the partition of the internal topic: fn(tuple, partition_count) -> partition.
Partitioner = Callable[["Tuple", int], int]


@dataclass(frozen=True)
class Grouping:
    """How tuples from an upstream component are distributed over the tasks of a bolt."""

    serde: Serde | None = field(default=None, kw_only=True)

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def in_process(self) -> bool:
        """True when the tuple stays in the task that emitted it (no internal topic)."""
        return False

    @property
    def single_partition(self) -> bool:
        return False


@dataclass(frozen=True)
class Shuffle(Grouping):
    @property
    def name(self) -> str:
        return "shuffle"

    @property
    def in_process(self) -> bool:
        return True


@dataclass(frozen=True)
class LocalOrShuffle(Shuffle):
    @property
    def name(self) -> str:
        return "local_or_shuffle"


@dataclass(frozen=True)
class Fields(Grouping):
    fields: Sequence[str] = ()

    @property
    def name(self) -> str:
        return f"fields({', '.join(self.fields)})"

    def key_of(self, value: Any) -> Any:
        """The grouping key: the field's value, or a tuple of values for several fields."""
        fields = self.fields
        if len(fields) == 1:
            return value[fields[0]]
        return tuple(value[f] for f in fields)

    def key_problem(self, key: Any) -> str | None:
        """Why ``key`` (from ``key_of``) cannot be a grouping key, or None. The key arrives downstream as the
        tuple's key, through JSON: None there means "no key", and a dict, or a list within a list (a list
        comes back as a tuple, its insides do not), cannot key state."""
        if len(self.fields) == 1:
            if key is None:
                return f"field {self.fields[0]!r} is None; a fields grouping needs a value to group by"
            return _problem(self.fields[0], key, sequence_ok=True)
        for name, part in zip(self.fields, key, strict=True):
            problem = _problem(name, part, sequence_ok=False)
            if problem is not None:
                return problem
        return None


def _problem(field: str, value: Any, sequence_ok: bool) -> str | None:
    if sequence_ok and isinstance(value, (list, tuple)):
        if all(v is None or isinstance(v, _SCALARS) for v in value):
            return None
    elif value is None or isinstance(value, _SCALARS):
        return None
    return (f"field {field!r} is a {type(value).__name__}, which cannot be a grouping key "
            "(use a str, a number, or a list of them)")


_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class All(Grouping):
    @property
    def name(self) -> str:
        return "all"


@dataclass(frozen=True)
class Global(Grouping):
    @property
    def name(self) -> str:
        return "global"

    @property
    def single_partition(self) -> bool:
        return True


@dataclass(frozen=True)
class Custom(Grouping):
    partitioner: Partitioner | None = None

    @property
    def name(self) -> str:
        fn = self.partitioner
        return f"custom({getattr(fn, '__name__', 'fn')})"
