"""Which topics a running topology needs, and with what shape."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from confluent_kafka.admin import AdminClient

from streamproc.errors import ConfigError
from streamproc.kafka import admin as kadmin
from streamproc.kafka.admin import TopicSpec
from streamproc.names import Names
from streamproc.plan import Plan

log = logging.getLogger(__name__)

CHANGELOG_CONFIG = {"cleanup.policy": "compact"}
INTERNAL_CONFIG = {"cleanup.policy": "delete"}


def required_topics(plan: Plan, counts: Mapping[str, int], with_dlq: bool) -> list[TopicSpec]:
    """Internal, changelog, dead-letter and (missing) sink topics; ``counts`` from ``Plan.resolve_partitions``."""
    specs = [
        TopicSpec(name, counts[name], dict(INTERNAL_CONFIG), f"{t.kind} topic of bolt {t.target!r}")
        for name, t in plan.internal_topics.items()
    ]
    for store in plan.stores:
        name = plan.names.changelog(store)
        specs.append(TopicSpec(name, counts[name], dict(CHANGELOG_CONFIG), f"changelog of store {store!r}"))
    if with_dlq:
        specs.append(TopicSpec(plan.names.dlq(), 1, {}, "dead-letter topic"))
    return specs


def sink_topics(plan: Plan, counts: Mapping[str, int]) -> list[TopicSpec]:
    """Sink topics, sized like the sub-topology that writes them (used only when they are missing)."""
    return [
        TopicSpec(topic, counts[plan.subtopology_of_component(component).source_topics[0]], {},
                  f"output of {component!r}")
        for component, topic in plan.sinks().items()
    ]


def ensure_internal_topics(admin: AdminClient, plan: Plan, with_dlq: bool, replication_factor: int = -1,
                           existing: Mapping[str, int] | None = None) -> dict[str, int]:
    """Resolve every partition count from the existing inputs (``existing``: the topics' partition counts,
    if already listed) and create the missing internal topics (changelogs, repartition, DLQ); returns the
    counts. A missing input is a ConfigError naming it."""
    counts = plan.resolve_partitions(existing if existing is not None else kadmin.partition_counts(admin))
    kadmin.ensure_topics(admin, required_topics(plan, counts, with_dlq), replication_factor)
    return counts


def prepare_topics(admin: AdminClient, plan: Plan, bootstrap: str, create_inputs: int | None, with_dlq: bool,
                   replication_factor: int = -1) -> dict[str, int]:
    """Everything a worker needs before it joins the group: the inputs (created with ``create_inputs``
    partitions when missing and that is given, else a ConfigError naming them), then the internal and
    missing sink topics. Returns every topic's partition count."""
    existing = kadmin.partition_counts(admin)
    missing_inputs = [t for t in plan.external_topics() if t not in existing]
    if missing_inputs and create_inputs:
        kadmin.ensure_topics(admin, [TopicSpec(t, create_inputs, {}, "input") for t in missing_inputs])
        log.info("created input topics %s with %d partitions on the embedded broker", missing_inputs, create_inputs)
        existing = kadmin.partition_counts(admin)
    elif missing_inputs:
        raise ConfigError(f"input topics {missing_inputs} of topology {plan.name!r} do not exist on {bootstrap}; "
                          "create them first")
    _warn_of_topology_named_state(plan, existing)
    counts = ensure_internal_topics(admin, plan, with_dlq, replication_factor, existing)
    kadmin.ensure_topics(admin, [t for t in sink_topics(plan, counts) if t.name not in existing], replication_factor)
    return counts


def _warn_of_topology_named_state(plan: Plan, existing: Mapping[str, int]) -> None:
    """A group other than the default starting with no changelog of its own while the topology-named ones
    exist: they belong to the default group, or to this group from before names were per group."""
    if plan.names.app == plan.name or any(t in existing for t in plan.changelog_topics().values()):
        return
    theirs = [t for t in (Names(plan.name).changelog(s) for s in plan.stores) if t in existing]
    if theirs:
        log.warning("group %r starts with empty state in its own changelogs (%s); %s belong to group %r and are "
                    "left alone (see 'Consumer groups and names' in the README)", plan.names.app,
                    ", ".join(plan.changelog_topics().values()), ", ".join(theirs), plan.name)
