"""``streamproc topics TARGET [--check] [--create] [--json]``: the topics a topology needs, and their state."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import Any

from streamproc.cli.connection import Connection, add_connection_arguments, connect
from streamproc.kafka import admin as kadmin
from streamproc.kafka.topics import ensure_internal_topics, required_topics, sink_topics
from streamproc.wording import counted


@dataclass(frozen=True)
class TopicStatus:
    name: str
    role: str
    partitions: int
    config: dict[str, str]
    status: str  # "ok", "missing" or "mismatch"
    problem: str = ""

    @property
    def blocks_run(self) -> bool:
        """A mismatch, or a missing topic other than an output (sinks are created by the first run)."""
        return self.status == "mismatch" or (self.status == "missing" and not self.role.startswith("output"))


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "topics", help="list the topics a topology needs; check or create them"
    )
    add_connection_arguments(parser)
    parser.add_argument("--dlq", action="store_true", help="include the dead-letter topic (runs with --on-error dlq)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="exit 1 unless every needed topic exists as required")
    action.add_argument("--create", action="store_true", help="create the missing internal topics")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=handle)


def survey(conn: Connection, with_dlq: bool) -> list[TopicStatus]:
    existing = kadmin.partition_counts(conn.admin)
    plan = conn.plan
    counts = plan.resolve_partitions(existing)  # a missing input topic is a ConfigError naming it
    found: list[TopicStatus] = []
    for topic in plan.external_topics():
        found.append(TopicStatus(topic, "input", counts[topic], {}, "ok"))
    policies = kadmin.cleanup_policies(conn.admin, [n for n in counts if n in existing])
    for spec in required_topics(plan, counts, with_dlq):
        have = existing.get(spec.name)
        wanted_policy = spec.config.get("cleanup.policy")
        if have is None:
            found.append(TopicStatus(spec.name, spec.purpose, spec.partitions, spec.config, "missing",
                                     "does not exist yet (streamproc run and topics --create create it)"))
        elif have != spec.partitions:
            found.append(TopicStatus(spec.name, spec.purpose, spec.partitions, spec.config, "mismatch",
                                     f"has {counted(have, 'partition')}, needs {spec.partitions} (those of its "
                                     "input); delete it to have it recreated, its data is rebuilt"))
        elif wanted_policy and policies.get(spec.name) not in (None, wanted_policy):
            found.append(TopicStatus(spec.name, spec.purpose, spec.partitions, spec.config, "mismatch",
                                     f"cleanup.policy is {policies[spec.name]}, needs {wanted_policy}"))
        else:
            found.append(TopicStatus(spec.name, spec.purpose, spec.partitions, spec.config, "ok"))
    for spec in sink_topics(plan, counts):
        status = "ok" if spec.name in existing else "missing"
        partitions = existing.get(spec.name, spec.partitions)
        problem = "" if status == "ok" else "created by the first streamproc run"
        found.append(TopicStatus(spec.name, spec.purpose, partitions, {}, status, problem))
    return found


def handle(args: argparse.Namespace) -> int:
    conn = connect(args)
    if args.create:
        ensure_internal_topics(conn.admin, conn.plan, args.dlq)
    found = survey(conn, args.dlq)
    if args.json:
        print(json.dumps([asdict(t) for t in found], indent=2))
    else:
        width = max(len(t.name) for t in found)
        for t in found:
            settings = ", ".join(f"{k}={v}" for k, v in t.config.items())
            noun = "partition" if t.partitions == 1 else "partitions"
            line = f"{t.name:<{width}}  {t.partitions:>4} {noun:<10}  {t.status:<8}  {t.role}"
            print(line + (f"  [{settings}]" if settings else "") + (f"\n{'':<{width}}  -> {t.problem}"
                                                                       if t.problem else ""))
    return 1 if args.check and any(t.blocks_run for t in found) else 0
