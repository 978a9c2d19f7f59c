"""Storm's groupings, and whether each keeps a tuple on its partition or moves it through a topic.

Shuffle keeps the tuple in-process: the partition is already the unit of parallelism, so any
task is as good as another and the cheapest is the current one. Every other grouping needs the
tuple to reach a particular partition, so the topology is cut there and the tuple travels
through an internal topic (see ``streamproc.plan``).

Each grouping knows everything that differs between groupings: its internal topic's kind, the
fields it needs, the key a tuple travels under and the partition it goes to. Planning,
validation and the writer of internal topics (streamproc.runtime.routing) ask it, so that a new
grouping is one class here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamproc.names import InternalKind
from streamproc.serde.base import Serde

if TYPE_CHECKING:
    from streamproc.components import Tuple

#: A custom grouping picks the partition of the internal topic: fn(tuple, partition_count) -> partition.
Partitioner = Callable[["Tuple", int], int]

#: ``Grouping.partition``: let the producer's partitioner choose by the key (Kafka's murmur2).
BY_KEY = -1
#: ``Grouping.partition``: a copy to every partition.
EVERY = -2


@dataclass(frozen=True)
class Grouping:
    """How tuples from an upstream component are distributed over the tasks of a bolt."""

    serde: Serde | None = field(default=None, kw_only=True)

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def kind(self) -> str:
        """``fields``, ``all``, ...: the name without arguments."""
        return type(self).__name__.lower()

    @property
    def in_process(self) -> bool:
        """True when the tuple stays in the task that emitted it (no internal topic)."""
        return False

    @property
    def single_partition(self) -> bool:
        return False

    @property
    def topic_suffix(self) -> InternalKind:
        """The internal topic is ``<group>-<bolt>-<suffix>`` (streamproc.names)."""
        return "repartition"

    @property
    def required_fields(self) -> Sequence[str]:
        """Fields the upstream's dict values must have (checked at build time where they are declared)."""
        return ()

    def key(self, tup: Tuple) -> Any:
        """The key the tuple travels under on the internal topic (the downstream ``tup.key``). Raises
        KeyError, IndexError or TypeError when the tuple does not have what the grouping needs."""
        return tup.key

    def partition(self, tup: Tuple, partitions: int) -> int:
        """The internal topic partition for the tuple: 0..partitions-1, BY_KEY or EVERY. Raises
        ValueError for a partition that does not exist."""
        return BY_KEY

    def key_problem(self, key: Any) -> str | None:
        """Why ``key`` (from ``key``) cannot be a grouping key, or None (asked only for keys other than str
        and int)."""
        return None


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

    @property
    def required_fields(self) -> Sequence[str]:
        return self.fields

    def key(self, tup: Tuple) -> Any:
        """The field's value, or a tuple of values for several fields."""
        fields = self.fields
        value = tup.value
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

    def partition(self, tup: Tuple, partitions: int) -> int:
        return EVERY


@dataclass(frozen=True)
class Global(Grouping):
    @property
    def name(self) -> str:
        return "global"

    @property
    def single_partition(self) -> bool:
        return True

    @property
    def topic_suffix(self) -> InternalKind:
        return "global"

    def partition(self, tup: Tuple, partitions: int) -> int:
        return 0


@dataclass(frozen=True)
class Custom(Grouping):
    partitioner: Partitioner | None = None

    @property
    def name(self) -> str:
        fn = self.partitioner
        return f"custom({getattr(fn, '__name__', 'fn')})"

    def partition(self, tup: Tuple, partitions: int) -> int:
        assert self.partitioner is not None
        chosen = self.partitioner(tup, partitions)
        if type(chosen) is not int or not 0 <= chosen < partitions:
            raise ValueError(f"custom partitioner returned {chosen!r}, outside 0..{partitions - 1}")
        return chosen
