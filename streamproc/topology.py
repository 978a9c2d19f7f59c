"""Building a topology: spouts and bolts wired by groupings, validated as a whole by ``build()``.

    topology = Topology("wordcount")
    topology.spout("sentences", KafkaSpout("sentences", value_serde=StrSerde()))
    topology.bolt("split", SplitWords).shuffle("sentences")
    topology.bolt("count", CountWords).fields("split", "word")
    topology.bolt("sink", KafkaSink("word-counts")).shuffle("count")
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from streamproc.components import DEFAULT_STREAM, Bolt
from streamproc.errors import TopologyError
from streamproc.groupings import All, Custom, Fields, Global, Grouping, LocalOrShuffle, Partitioner, Shuffle
from streamproc.kafka.spout import KafkaSpout
from streamproc.plan import build_plan
from streamproc.serde.base import Serde
from streamproc.validation import validate

if TYPE_CHECKING:
    from streamproc.plan import Plan

_ID = re.compile(r"^[A-Za-z0-9._-]+$")

#: A subscription source: a component id (its default stream) or (component id, stream name).
Source = str | tuple[str, str]


@dataclass(frozen=True)
class Input:
    source: str
    stream: str
    grouping: Grouping


@dataclass
class BoltSpec:
    id: str
    bolt: type[Bolt] | Bolt
    inputs: list[Input] = field(default_factory=list)
    #: Partition count of the bolt's repartition topic; None means that of the upstream input.
    partitions: int | None = None

    @property
    def bolt_class(self) -> type[Bolt]:
        return self.bolt if isinstance(self.bolt, type) else type(self.bolt)


def _check_id(kind: str, value: str) -> None:
    if not isinstance(value, str) or not _ID.match(value):
        raise TopologyError(
            f"{kind} id {value!r} is invalid: use letters, digits, '.', '_' and '-' (it becomes part of topic names)"
        )


class BoltDeclarer:
    """Returned by ``Topology.bolt``; each grouping method subscribes the bolt to one source."""

    def __init__(self, spec: BoltSpec) -> None:
        self._spec = spec

    def _add(self, source: Source, grouping: Grouping) -> BoltDeclarer:
        if isinstance(source, tuple):
            if len(source) != 2 or not all(isinstance(s, str) for s in source):
                raise TopologyError(
                    f"bolt {self._spec.id!r}: source {source!r} must be 'component' or (component, stream)"
                )
            component, stream = source
        elif isinstance(source, str):
            component, stream = source, DEFAULT_STREAM
        else:
            raise TopologyError(f"bolt {self._spec.id!r}: source {source!r} must be 'component' or (component, stream)")
        self._spec.inputs.append(Input(component, stream, grouping))
        return self

    def shuffle(self, source: Source) -> BoltDeclarer:
        return self._add(source, Shuffle())

    def local_or_shuffle(self, source: Source) -> BoltDeclarer:
        return self._add(source, LocalOrShuffle())

    def fields(self, source: Source, *fields: str, serde: Serde | None = None) -> BoltDeclarer:
        if not fields or not all(isinstance(f, str) and f for f in fields):
            raise TopologyError(f"bolt {self._spec.id!r}: fields grouping on {source!r} needs one or more field names")
        return self._add(source, Fields(fields=tuple(fields), serde=serde))

    def all(self, source: Source, *, serde: Serde | None = None) -> BoltDeclarer:
        return self._add(source, All(serde=serde))

    def global_(self, source: Source, *, serde: Serde | None = None) -> BoltDeclarer:
        return self._add(source, Global(serde=serde))

    def custom(self, source: Source, partitioner: Partitioner, *, serde: Serde | None = None) -> BoltDeclarer:
        if not callable(partitioner):
            raise TopologyError(f"bolt {self._spec.id!r}: custom grouping needs a callable (tuple, partitions) -> int")
        return self._add(source, Custom(partitioner=partitioner, serde=serde))


class Topology:
    """A named DAG of spouts and bolts. The name is the consumer group id and prefixes internal topics."""

    def __init__(self, name: str) -> None:
        _check_id("topology", name)
        self.name = name
        self.spouts: dict[str, KafkaSpout] = {}
        self.bolts: dict[str, BoltSpec] = {}

    def _check_new_id(self, component: str) -> None:
        _check_id("component", component)
        if component in self.spouts or component in self.bolts:
            raise TopologyError(f"component id {component!r} is used twice in topology {self.name!r}")

    def spout(self, component: str, spout: KafkaSpout) -> Topology:
        """Add a source named ``component`` that reads Kafka topics; returns the topology, for chaining."""
        self._check_new_id(component)
        if not isinstance(spout, KafkaSpout):
            raise TopologyError(
                f"spout {component!r} must be a KafkaSpout, got {type(spout).__name__}; "
                "write other sources to a Kafka topic and read that"
            )
        self.spouts[component] = spout
        return self

    def bolt(self, component: str, bolt: type[Bolt] | Bolt, *, partitions: int | None = None) -> BoltDeclarer:
        """Add a bolt named ``component``; subscribe it to its sources on the declarer this returns
        (``.shuffle(src)``, ``.fields(src, "f")``, ...).

        ``bolt`` is a ``Bolt`` subclass (instantiated once per task) or an instance (deep-copied per
        task). ``partitions`` sets the partition count of the internal topic a fields, all or custom
        grouping creates in front of the bolt (default: the upstream's).
        """
        self._check_new_id(component)
        is_bolt_class = isinstance(bolt, type) and issubclass(bolt, Bolt)
        if not (is_bolt_class or isinstance(bolt, Bolt)):
            raise TopologyError(
                f"bolt {component!r} must be a Bolt subclass or instance, got {bolt!r}"
            )
        if partitions is not None and (not isinstance(partitions, int) or partitions < 1):
            raise TopologyError(f"bolt {component!r}: partitions must be a positive integer, got {partitions!r}")
        spec = BoltSpec(component, bolt, partitions=partitions)
        self.bolts[component] = spec
        return BoltDeclarer(spec)

    def build(self, group_id: str | None = None) -> Plan:
        """Validate the whole graph and cut it into sub-topologies; raises TopologyError naming the component.

        ``group_id`` (default: the topology name) names the run's internal topics and state (``streamproc.names``)."""
        validate(self)
        return build_plan(self, group_id)

