"""Human-readable pictures of a plan: text for terminals, Mermaid for docs.

They show names, topics and groupings, never a component's settings: a bolt instance is shown by
its class name, not its repr, which could print credentials it was configured with.
"""

from __future__ import annotations

from streamproc.kafka.sink import KafkaSink
from streamproc.plan import Plan
from streamproc.wording import counted


def _component(plan: Plan, component: str) -> str:
    if component in plan.spouts:
        return f"spout {component} <- {', '.join(plan.spouts[component].topics)}"
    spec = plan.bolts[component]
    bolt = spec.bolt
    name = f"{type(bolt).__name__}({bolt.topic})" if isinstance(bolt, KafkaSink) else spec.bolt_class.__name__
    inputs = ", ".join(
        f"{i.source}{'' if i.stream == 'default' else '/' + i.stream} ({i.grouping.name})" for i in spec.inputs
    )
    stores = ", ".join(s.name for s in spec.bolt_class.stores)
    return f"bolt {component} [{name}] <- {inputs}" + (f"; stores: {stores}" if stores else "")


def describe_text(plan: Plan) -> str:
    lines = [f"topology {plan.name} (consumer group {plan.names.app})"]
    for sub in plan.subtopologies:
        lines.append(f"  sub-topology {sub.id}: reads {', '.join(sub.source_topics)}")
        lines.extend(f"    {_component(plan, c)}" for c in sub.components)
    lines.append("  internal topics:")
    for name, topic in plan.internal_topics.items():
        size = counted(topic.partitions, "partition") if topic.partitions else "partitions of its input"
        lines.append(f"    {name} ({topic.kind}, {size}) -> {topic.target}")
    for store, changelog in plan.changelog_topics().items():
        lines.append(f"    {changelog} (compacted changelog of store {store})")
    if not plan.internal_topics and not plan.stores:
        lines.append("    none")
    sinks = plan.sink_topics()
    if sinks:
        lines.append(f"  output topics: {', '.join(sinks)}")
    return "\n".join(lines)


def describe_mermaid(plan: Plan) -> str:
    lines = ["flowchart LR"]

    def node(name: str) -> str:
        return name.replace("-", "_").replace(".", "_")

    for sub in plan.subtopologies:
        lines.append(f"  subgraph sub{sub.id}[sub-topology {sub.id}]")
        for component in sub.components:
            shape = f"(({component}))" if component in plan.spouts else f"[{component}]"
            lines.append(f"    {node(component)}{shape}")
        lines.append("  end")
    for component, spout in plan.spouts.items():
        for topic in spout.topics:
            lines.append(f"  t_{node(topic)}[/{topic}/] --> {node(component)}")
    for routes in plan.routes.values():
        for route in routes:
            label = route.grouping.name + ("" if route.stream == "default" else f" {route.stream}")
            if route.topic is None:
                lines.append(f"  {node(route.source)} -->|{label}| {node(route.target)}")
            else:
                lines.append(f"  {node(route.source)} -.->|{label} via {route.topic}| {node(route.target)}")
    for writer, topic in plan.sinks().items():
        lines.append(f"  {node(writer)} --> o_{node(topic)}[/{topic}/]")
    return "\n".join(lines)
