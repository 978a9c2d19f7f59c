"""Cutting a validated topology into sub-topologies joined by internal topics.

Components joined by in-process groupings (shuffle) run in the same task; every other grouping
sends tuples through an internal topic that the downstream sub-topology consumes like any input.
Sub-topologies are the connected components of the in-process edges (a union-find), so a bolt
fed both in-process and through a topic shares a task with its in-process upstream, and that
task reads partition p of all its sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from streamproc.errors import ConfigError
from streamproc.groupings import Grouping
from streamproc.kafka.sink import KafkaSink
from streamproc.kafka.spout import KafkaSpout
from streamproc.names import Names
from streamproc.state.store import Store

if TYPE_CHECKING:
    from streamproc.topology import BoltSpec, Topology


@dataclass(frozen=True)
class Route:
    """One subscription: tuples of (source, stream) go to target, in-process or through ``topic``."""

    source: str
    stream: str
    target: str
    grouping: Grouping
    topic: str | None


@dataclass(frozen=True)
class InternalTopic:
    name: str
    target: str
    kind: Literal["repartition", "global"]
    #: Fixed partition count, or None for "that of the upstream sub-topology".
    partitions: int | None
    #: True when several (source, stream) pairs share the topic and records must say which they are.
    tagged: bool


@dataclass(frozen=True)
class SubTopology:
    id: int
    components: tuple[str, ...]  # spouts first, then bolts in topological order
    external_topics: tuple[str, ...]
    internal_topics: tuple[str, ...]
    stores: tuple[str, ...]

    @property
    def source_topics(self) -> tuple[str, ...]:
        return self.external_topics + self.internal_topics


@dataclass
class Plan:
    name: str
    spouts: dict[str, KafkaSpout]
    bolts: dict[str, BoltSpec]
    routes: dict[tuple[str, str], list[Route]]
    subtopologies: list[SubTopology]
    internal_topics: dict[str, InternalTopic]
    #: Every derived name (internal topics, changelogs, dead letters, state paths): per consumer group.
    names: Names
    #: store name -> (owning bolt, spec)
    stores: dict[str, tuple[str, Store]] = field(default_factory=dict)

    def source_topics(self) -> list[str]:
        return [t for sub in self.subtopologies for t in sub.source_topics]

    def external_topics(self) -> list[str]:
        return [t for sub in self.subtopologies for t in sub.external_topics]

    def subtopology_of_topic(self) -> dict[str, SubTopology]:
        return {t: sub for sub in self.subtopologies for t in sub.source_topics}

    def subtopology_of_component(self, component: str) -> SubTopology:
        return next(sub for sub in self.subtopologies if component in sub.components)

    def changelog_topics(self) -> dict[str, str]:
        """store name -> changelog topic"""
        return {name: self.names.changelog(name) for name in self.stores}

    def sinks(self) -> dict[str, str]:
        """KafkaSink component -> the topic it writes."""
        return {c: spec.bolt.topic for c, spec in self.bolts.items() if isinstance(spec.bolt, KafkaSink)}

    def sink_topics(self) -> list[str]:
        return sorted(set(self.sinks().values()))

    def resolve_partitions(self, external: Mapping[str, int]) -> dict[str, int]:
        """Partition counts of every source, internal and changelog topic, given the input topics'.

        Sub-topologies are resolved upstream first: an internal topic takes its configured count or
        that of the sub-topology writing to it; a changelog takes that of its bolt's sub-topology.
        """
        missing = [t for t in self.external_topics() if t not in external]
        if missing:
            raise ConfigError(f"input topic {missing[0]!r} does not exist; create it before running {self.name!r}")
        counts: dict[str, int] = {}
        sub_count: dict[int, int] = {}
        pending = list(self.subtopologies)
        while pending:
            progressed = False
            for sub in list(pending):
                for name in sub.internal_topics:
                    if name in counts:
                        continue
                    internal = self.internal_topics[name]
                    if internal.partitions is not None:
                        counts[name] = internal.partitions
                        continue
                    writers = {self.subtopology_of_component(r.source).id for r in self._routes_into(name)}
                    if all(w in sub_count for w in writers):
                        counts[name] = max(sub_count[w] for w in writers)
                if not all(t in counts or t in external for t in sub.source_topics):
                    continue
                for topic in sub.external_topics:
                    counts[topic] = external[topic]
                sizes = {t: counts[t] for t in sub.source_topics}
                if len(set(sizes.values())) > 1:
                    raise ConfigError(
                        f"topics {sizes} feed the same sub-topology of {self.name!r} and must have the same partition "
                        "count (they are processed together, partition by partition)"
                    )
                sub_count[sub.id] = next(iter(sizes.values()))
                pending.remove(sub)
                progressed = True
            if not progressed:  # pragma: no cover - validation rejects cycles
                raise ConfigError(f"cannot resolve partition counts of {self.name!r}: cyclic internal topics")
        for store_name, (owner, _) in self.stores.items():
            counts[self.names.changelog(store_name)] = sub_count[self.subtopology_of_component(owner).id]
        return counts

    def _routes_into(self, topic: str) -> list[Route]:
        return [r for routes in self.routes.values() for r in routes if r.topic == topic]


ASSIGNORS = ("range", "cooperative-sticky")


def check_assignor(plan: Plan, assignor: str) -> str:
    """The assignor, if it can serve ``plan``: only "range" co-locates partition p of several input topics."""
    if assignor not in ASSIGNORS:
        raise ConfigError(f"unknown assignor {assignor!r}; choose one of {', '.join(ASSIGNORS)}")
    if assignor != "range":
        shared = [sub for sub in plan.subtopologies if len(sub.source_topics) > 1]
        if shared:
            topics = ", ".join(shared[0].source_topics)
            raise ConfigError(
                f"sub-topology {shared[0].id} reads several topics ({topics}) and needs partition p of each in one "
                f"task; only the range assignor guarantees that, not {assignor}"
            )
    return assignor


def build_plan(topology: Topology, group_id: str | None = None) -> Plan:
    """``group_id`` (default: the topology name) prefixes every internal topic, changelog and state path."""
    names = Names(topology.name if group_id is None else group_id)
    components = [*topology.spouts, *topology.bolts]
    parent = {c: c for c in components}

    def find(c: str) -> str:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    routes: dict[tuple[str, str], list[Route]] = {}
    internal: dict[str, InternalTopic] = {}
    feeders: dict[str, set[tuple[str, str]]] = {}
    for spec in topology.bolts.values():
        for inp in spec.inputs:
            topic = None
            if inp.grouping.in_process:
                parent[find(spec.id)] = find(inp.source)
            else:
                topic = names.internal(spec.id, inp.grouping.topic_suffix)
                feeders.setdefault(topic, set()).add((inp.source, inp.stream))
                fixed = 1 if inp.grouping.single_partition else spec.partitions
                kind: Literal["repartition", "global"] = "global" if inp.grouping.single_partition else "repartition"
                internal[topic] = InternalTopic(topic, spec.id, kind, fixed, tagged=False)
            routes.setdefault((inp.source, inp.stream), []).append(
                Route(inp.source, inp.stream, spec.id, inp.grouping, topic)
            )
    for topic, sources in feeders.items():
        if len(sources) > 1:
            t = internal[topic]
            internal[topic] = InternalTopic(t.name, t.target, t.kind, t.partitions, tagged=True)

    order = _topological_order(topology)
    groups: dict[str, list[str]] = {}
    for component in order:
        groups.setdefault(find(component), []).append(component)

    stores: dict[str, tuple[str, Store]] = {}
    subtopologies: list[SubTopology] = []
    for index, members in enumerate(groups.values()):
        external = tuple(t for c in members if c in topology.spouts for t in topology.spouts[c].topics)
        consumed = tuple(sorted(name for name, t in internal.items() if t.target in members))
        member_stores = []
        for c in members:
            if c in topology.bolts:
                for store in topology.bolts[c].bolt_class.stores:
                    stores[store.name] = (c, store)
                    member_stores.append(store.name)
        subtopologies.append(SubTopology(index, tuple(members), external, consumed, tuple(member_stores)))
    return Plan(topology.name, dict(topology.spouts), dict(topology.bolts), routes, subtopologies, internal, names,
                stores)


def _topological_order(topology: Topology) -> list[str]:
    indegree = {c: 0 for c in [*topology.spouts, *topology.bolts]}
    downstream: dict[str, list[str]] = {c: [] for c in indegree}
    for spec in topology.bolts.values():
        for inp in spec.inputs:
            indegree[spec.id] += 1
            downstream[inp.source].append(spec.id)
    ready = [c for c, d in indegree.items() if d == 0]
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for nxt in downstream[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return order
