"""Whole-graph checks run by ``Topology.build``: each error names the component to fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamproc.components import DEFAULT_STREAM
from streamproc.components import declared_streams as streams_of
from streamproc.errors import TopologyError
from streamproc.groupings import Global
from streamproc.kafka.sink import KafkaSink

if TYPE_CHECKING:
    from streamproc.topology import BoltSpec, Topology


def declared_streams(spec: BoltSpec) -> dict[str, tuple[str, ...] | None]:
    """The streams a bolt declares, each with the fields it declares for it (None when it names none)."""
    return streams_of(spec.bolt_class, spec.id)


def validate(topology: Topology) -> None:
    if not topology.spouts:
        raise TopologyError(f"topology {topology.name!r} has no spout; add one with .spout(id, KafkaSpout(...))")
    _check_inputs(topology)
    _check_acyclic(topology)
    _check_fields(topology)
    _check_stores(topology)
    _check_topics(topology)


def _check_inputs(topology: Topology) -> None:
    for spec in topology.bolts.values():
        declared_streams(spec)  # a malformed declaration fails here, even on a bolt nobody subscribes to
        if not spec.inputs:
            raise TopologyError(
                f"bolt {spec.id!r} has no input; subscribe it with .shuffle(source), .fields(source, ...) "
                "or another grouping"
            )
        kinds = {type(i.grouping) for i in spec.inputs}
        if Global in kinds and len(spec.inputs) > 1:
            raise TopologyError(
                f"bolt {spec.id!r} mixes a global grouping with other inputs; give it only the global one"
            )
        for inp in spec.inputs:
            if inp.source == spec.id:
                raise TopologyError(f"bolt {spec.id!r} subscribes to itself")
            if inp.source in topology.spouts:
                if inp.stream != DEFAULT_STREAM:
                    raise TopologyError(
                        f"bolt {spec.id!r} subscribes to stream {inp.stream!r} of spout {inp.source!r}, "
                        f"but spouts only emit {DEFAULT_STREAM!r}"
                    )
                continue
            upstream = topology.bolts.get(inp.source)
            if upstream is None:
                known = sorted([*topology.spouts, *topology.bolts])
                raise TopologyError(f"bolt {spec.id!r} subscribes to unknown component {inp.source!r}; known: {known}")
            if issubclass(upstream.bolt_class, KafkaSink):
                raise TopologyError(f"bolt {spec.id!r} subscribes to {inp.source!r}, a KafkaSink, which emits nothing")
            streams = declared_streams(upstream)
            if inp.stream not in streams:
                raise TopologyError(
                    f"bolt {spec.id!r} subscribes to stream {inp.stream!r} of {inp.source!r}, "
                    f"which declares only {sorted(streams)}; a bolt declares the streams it emits on with "
                    "streams = (...) or output_fields = {stream: [fields]}"
                )


def _check_acyclic(topology: Topology) -> None:
    downstream: dict[str, set[str]] = {c: set() for c in [*topology.spouts, *topology.bolts]}
    for spec in topology.bolts.values():
        for inp in spec.inputs:
            downstream[inp.source].add(spec.id)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(downstream[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
                raise TopologyError(f"topology {topology.name!r} has a cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in downstream:
        if node not in state:
            visit(node, [node])


def _check_fields(topology: Topology) -> None:
    for spec in topology.bolts.values():
        for inp in spec.inputs:
            if not inp.grouping.required_fields:
                continue
            if inp.source in topology.spouts:
                spout = topology.spouts[inp.source]
                available = spout.declared_fields()
                what = f"spout {inp.source!r} ({type(spout.value_serde).__name__} values)"
            else:
                available = declared_streams(topology.bolts[inp.source]).get(inp.stream)
                what = f"bolt {inp.source!r} stream {inp.stream!r}"
            if available is None:
                continue  # unknown until run time; checked per tuple with a clear error
            missing = [f for f in inp.grouping.required_fields if f not in available]
            if missing:
                has = f"fields {list(available)}" if available else "values without fields"
                raise TopologyError(
                    f"bolt {spec.id!r} groups by {missing} from {what}, which emits {has}; "
                    "emit dict values with those fields (declare them in output_fields) or group by existing fields"
                )


def _check_stores(topology: Topology) -> None:
    owners: dict[str, str] = {}
    for spec in topology.bolts.values():
        for store in spec.bolt_class.stores:
            if store.name in owners:
                raise TopologyError(
                    f"store {store.name!r} is declared by both {owners[store.name]!r} and {spec.id!r}; store names are "
                    "unique per topology (each has its own changelog topic)"
                )
            owners[store.name] = spec.id


def _check_topics(topology: Topology) -> None:
    readers: dict[str, str] = {}
    for component, spout in topology.spouts.items():
        for topic in spout.topics:
            if topic in readers:
                raise TopologyError(f"topic {topic!r} is read by both spouts {readers[topic]!r} and {component!r}")
            readers[topic] = component
