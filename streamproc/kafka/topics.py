"""Which topics a running topology needs, and with what shape."""

from __future__ import annotations

from collections.abc import Mapping

from streamproc.kafka.admin import TopicSpec
from streamproc.plan import Plan
from streamproc.runtime.policy import dlq_topic
from streamproc.state.changelog import changelog_topic

CHANGELOG_CONFIG = {"cleanup.policy": "compact"}
INTERNAL_CONFIG = {"cleanup.policy": "delete"}


def required_topics(plan: Plan, counts: Mapping[str, int], with_dlq: bool) -> list[TopicSpec]:
    """Internal, changelog, dead-letter and (missing) sink topics; ``counts`` from ``Plan.resolve_partitions``."""
    specs = [
        TopicSpec(name, counts[name], dict(INTERNAL_CONFIG), f"{t.kind} topic of bolt {t.target!r}")
        for name, t in plan.internal_topics.items()
    ]
    for store in plan.stores:
        name = changelog_topic(plan.name, store)
        specs.append(TopicSpec(name, counts[name], dict(CHANGELOG_CONFIG), f"changelog of store {store!r}"))
    if with_dlq:
        specs.append(TopicSpec(dlq_topic(plan.name), 1, {}, "dead-letter topic"))
    return specs


def sink_topics(plan: Plan, counts: Mapping[str, int]) -> list[TopicSpec]:
    """Sink topics, sized like the sub-topology that writes them (used only when they are missing)."""
    from streamproc.kafka.sink import KafkaSink

    specs = []
    for component, spec in plan.bolts.items():
        if isinstance(spec.bolt, KafkaSink):
            sub = plan.subtopology_of_component(component)
            specs.append(TopicSpec(spec.bolt.topic, counts[sub.source_topics[0]], {}, f"output of {component!r}"))
    return specs
