"""``streamproc dlq list|replay``: look at dead-lettered messages and re-drive them, once each."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Producer

from streamproc.cli.connection import Connection, add_connection_arguments, connect
from streamproc.errors import ConfigError
from streamproc.kafka import admin as kadmin
from streamproc.kafka.admin import TopicSpec
from streamproc.kafka.config import consumer_config, producer_config
from streamproc.kafka.reading import committed_offsets, reader, watermarks
from streamproc.ops import dlq as ops
from streamproc.ops.progress import progress, say
from streamproc.ops.replay import apply_offsets


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("dlq", help="list and re-drive dead-lettered messages")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    list_parser = actions.add_parser("list", help="dead letters: error, component, origin, time, status")
    add_connection_arguments(list_parser)
    list_parser.add_argument("--limit", type=int, metavar="N", help="at most N messages")
    list_parser.add_argument("--pending", action="store_true", help="only those not re-driven yet")
    list_parser.add_argument("--json", action="store_true", help="one JSON object per line")
    list_parser.set_defaults(handler=handle_list)

    replay_parser = actions.add_parser("replay", help="re-drive dead letters to their origin topic (or another)")
    add_connection_arguments(replay_parser)
    replay_parser.add_argument("--filter-error", metavar="TEXT",
                               help="only dead letters whose error or error type contains TEXT (case-blind)")
    replay_parser.add_argument("--to-topic", metavar="T", help="produce to T instead of each message's origin topic")
    replay_parser.add_argument("--dry-run", action="store_true", help="show what would be re-driven, change nothing")
    replay_parser.set_defaults(handler=handle_replay)


class _Dlq:
    """The DLQ topic of a topology, its re-drive group's offsets and its ledger."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.topic = conn.plan.names.dlq()
        self.group = conn.plan.names.dlq_group()
        counts = kadmin.partition_counts(conn.admin)
        if self.topic not in counts:
            raise ConfigError(f"topology {conn.plan.name!r} has no dead-letter topic {self.topic!r} (it is created "
                              "by `streamproc run --on-error dlq`)")
        self.partitions = counts[self.topic]
        self.counts = counts
        self.reader = reader(conn.bootstrap, conn.overrides, f"{conn.plan.name}-dlq")
        group = Consumer(consumer_config(conn.bootstrap, self.group, conn.overrides, f"{conn.plan.name}-dlq"))
        try:
            found = committed_offsets(group, [(self.topic, p) for p in range(self.partitions)])
        finally:
            group.close()
        self.start = {p: offset for (_, p), offset in found.items()}
        self.low = {p: watermarks(self.reader, self.topic, p)[0] for p in range(self.partitions)}
        self.done = ops.redriven(self.reader, conn.plan.names.dlq_ledger(), conn.plan.names.dlq_ledger() in counts)

    def is_done(self, letter: ops.DeadLetter) -> bool:
        return letter.offset < self.start.get(letter.partition, 0) or (letter.partition, letter.offset) in self.done

    def close(self) -> None:
        self.reader.close()


def _time(ms: int | None) -> str:
    return "-" if not ms else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def handle_list(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:
        raise ConfigError(f"--limit {args.limit}: give a count of messages, 0 or more")
    box = _Dlq(connect(args))
    shown = 0
    try:
        if not args.json:
            print(f"{'offset':>8}  {'status':<9}  {'failed at (UTC)':<24}  {'component':<14}  {'origin':<28}  error")
        for letter in ops.read(box.reader, box.topic, box.low):
            done = box.is_done(letter)
            if args.pending and done:
                continue
            if args.limit is not None and shown >= args.limit:
                break
            status = "re-driven" if done else "pending"
            if args.json:
                print(json.dumps({
                    "partition": letter.partition, "offset": letter.offset, "status": status,
                    "error": letter.error, "error_type": letter.error_type, "component": letter.component,
                    "origin": {"topic": letter.source_topic, "partition": letter.source_partition,
                               "offset": letter.source_offset},
                    "timestamp": letter.timestamp, "failed_at": letter.failed_at,
                    "key": None if letter.key is None else letter.key.decode(errors="replace"),
                }))
            else:
                error = f"{letter.error_type}: {letter.error}".replace("\n", " ")
                print(f"{letter.offset:>8}  {status:<9}  {_time(letter.failed_at):<24}  {letter.component:<14}  "
                      f"{letter.origin:<28}  {error[:100]}")
            shown += 1
    finally:
        box.close()
    if not args.json:
        say(f"{shown} dead letters shown from {box.topic}")
    return 0


def handle_replay(args: argparse.Namespace) -> int:
    conn = connect(args)
    box = _Dlq(conn)
    try:
        if args.to_topic is not None and args.to_topic not in box.counts:
            raise ConfigError(f"--to-topic {args.to_topic!r} does not exist")
        plan = ops.plan_redrive(ops.read(box.reader, box.topic, box.low, box.start), box.done, box.start,
                                args.filter_error)
    finally:
        box.close()
    missing = sorted({t for t in (args.to_topic or letter.source_topic for letter in plan.letters)
                      if t is not None and t not in box.counts})
    if missing:
        raise ConfigError(f"origin topics {missing} no longer exist; re-drive with --to-topic")
    earlier = plan.already + sum(offset - box.low[p] for p, offset in box.start.items())
    say(f"{len(plan.letters)} to re-drive, {plan.passed_over} not matching --filter-error left pending, "
        f"{earlier} re-driven before")
    if args.dry_run:
        for letter in plan.letters:
            print(f"{letter.offset:>8}  -> {args.to_topic or letter.origin}  {letter.error_type}: {letter.error[:80]}")
        say("dry run: nothing changed")
        return 0
    if plan.letters:
        kadmin.ensure_topics(conn.admin, [TopicSpec(conn.plan.names.dlq_ledger(), 1,
                                                    {"cleanup.policy": "compact"}, "ledger of re-driven dead letters")])
        producer = Producer(producer_config(conn.bootstrap, conn.overrides, f"{conn.plan.name}-dlq-replay"))
        with progress("re-driving", len(plan.letters), "messages") as advance:
            ops.redrive(producer, plan, conn.plan.names.dlq_ledger(), args.to_topic, box.counts)
            advance(len(plan.letters))
    apply_offsets(conn.admin, box.group, {(box.topic, p): o for p, o in plan.new_offsets.items()})
    say(f"re-drove {len(plan.letters)} dead letters" + (f" to {args.to_topic}" if args.to_topic else
                                                       " to their origin topics"))
    return 0
