"""Which topics a running topology needs, and with what shape."""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka.admin import AdminClient

from streamproc.kafka import admin as kadmin
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
    return [
        TopicSpec(topic, counts[plan.subtopology_of_component(component).source_topics[0]], {},
                  f"output of {component!r}")
        for component, topic in plan.sinks().items()
    ]


def ensure_internal_topics(admin: AdminClient, plan: Plan, with_dlq: bool, replication_factor: int = -1
                           ) -> dict[str, int]:
    """Resolve every partition count from the existing inputs and create the missing internal topics
    (changelogs, repartition, DLQ); returns the counts. A missing input is a ConfigError naming it."""
    counts = plan.resolve_partitions(kadmin.partition_counts(admin))
    kadmin.ensure_topics(admin, required_topics(plan, counts, with_dlq), replication_factor)
    return counts
