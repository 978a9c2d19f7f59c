"""``streamproc dlq list|replay|skip``: look at dead letters, grouped by origin, and deal with each origin once."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
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
    parser: argparse.ArgumentParser = commands.add_parser(
        "dlq", help="list dead-lettered messages by origin, re-drive or skip them")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    list_parser = actions.add_parser("list", help="dead letters, one line per origin: status, copies, error, "
                                                  "component, origin, time")
    add_connection_arguments(list_parser)
    list_parser.add_argument("--limit", type=int, metavar="N", help="at most N origins")
    list_parser.add_argument("--pending", action="store_true", help="only origins not re-driven or skipped yet")
    list_parser.add_argument("--json", action="store_true", help="one JSON object per line")
    list_parser.set_defaults(handler=handle_list)

    replay_parser = actions.add_parser("replay", help="re-drive dead letters to their origin topic (or another), "
                                                      "once per origin")
    _add_selection(replay_parser)
    replay_parser.add_argument("--to-topic", metavar="T", help="produce to T instead of each message's origin topic")
    replay_parser.add_argument("--dry-run", action="store_true", help="show what would be re-driven, change nothing")
    replay_parser.set_defaults(handler=handle_replay)

    skip_parser = actions.add_parser("skip", help="mark dead letters handled without re-driving them")
    _add_selection(skip_parser)
    skip_parser.add_argument("--all", action="store_true", help="every pending dead letter (no selection needed)")
    skip_parser.add_argument("--dry-run", action="store_true", help="show what would be skipped, change nothing")
    skip_parser.set_defaults(handler=handle_skip)


def _add_selection(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument("--filter-error", metavar="TEXT",
                        help="only dead letters whose error or error type contains TEXT (case-blind)")
    parser.add_argument("--offsets", metavar="FROM-TO",
                        help="only dead letters at these DLQ offsets (inclusive; the first column of `dlq list`)")


def _offsets(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    low, sep, high = text.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit() or int(low) > int(high):
        raise ConfigError(f"--offsets {text!r}: expected FROM-TO, two DLQ offsets with FROM <= TO, e.g. 120-180")
    return int(low), int(high)


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
        self.ledger = ops.read_ledger(self.reader, conn.plan.names.dlq_ledger(), conn.plan.names.dlq_ledger() in counts)

    def letters(self) -> list[ops.DeadLetter]:
        return list(ops.read(self.reader, self.topic, self.low))

    def close(self) -> None:
        self.reader.close()


def _time(ms: int | None) -> str:
    return "-" if not ms else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def handle_list(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:
        raise ConfigError(f"--limit {args.limit}: give a count of origins, 0 or more")
    box = _Dlq(connect(args))
    try:
        origins = ops.group(box.letters())
    finally:
        box.close()
    shown = 0
    if not args.json:
        print(f"{'offset':>8}  {'status':<9}  {'copies':>6}  {'failed at (UTC)':<24}  {'component':<14}  "
              f"{'origin':<28}  error")
    for origin in origins:
        status = ops.status_of(origin, box.ledger, box.start)
        if args.pending and status != "pending":
            continue
        if args.limit is not None and shown >= args.limit:
            break
        letter, last = origin.first, origin.last
        if args.json:
            print(json.dumps({
                "partition": letter.partition, "offset": letter.offset, "status": status,
                "copies": len(origin.letters), "offsets": [x.offset for x in origin.letters],
                "error": last.error, "error_type": last.error_type, "component": last.component,
                "origin": {"topic": letter.source_topic, "partition": letter.source_partition,
                           "offset": letter.source_offset},
                "timestamp": letter.timestamp, "failed_at": last.failed_at,
                "key": None if letter.key is None else letter.key.decode(errors="replace"),
            }))
        else:
            error = f"{last.error_type}: {last.error}".replace("\n", " ")
            print(f"{letter.offset:>8}  {status:<9}  {len(origin.letters):>6}  {_time(last.failed_at):<24}  "
                  f"{last.component:<14}  {letter.origin:<28}  {error[:100]}")
        shown += 1
    if not args.json:
        copies = sum(len(o.letters) for o in origins)
        say(f"{shown} of {len(origins)} origins shown ({copies} dead letters in {box.topic})")
    return 0


def _summary(box: _Dlq, origins: list[ops.Origin]) -> Counter[str]:
    return Counter(ops.status_of(origin, box.ledger, box.start) for origin in origins)


def _plan(args: argparse.Namespace, offsets: tuple[int, int] | None, verb: str
          ) -> tuple[Connection, _Dlq, ops.RedrivePlan]:
    """The origins that ``dlq replay``/``dlq skip`` selects, announced with what was handled before."""
    conn = connect(args)
    box = _Dlq(conn)
    try:
        to_topic = getattr(args, "to_topic", None)
        if to_topic is not None and to_topic not in box.counts:
            raise ConfigError(f"--to-topic {to_topic!r} does not exist")
        letters = box.letters()
    finally:
        box.close()
    plan = ops.plan_redrive(letters, box.ledger, box.start, ops.selector(args.filter_error, offsets))
    before = _summary(box, ops.group(letters))
    say(f"{len(plan.origins)} to {verb} ({plan.copies} dead letters), {plan.passed_over} not selected left "
        f"pending, {before['re-driven']} re-driven before, {before['skipped']} skipped before")
    return conn, box, plan


def _list_dry_run(plan: ops.RedrivePlan, target: Callable[[ops.DeadLetter], str]) -> None:
    for origin in plan.origins:
        letter = origin.first
        print(f"{letter.offset:>8}  x{len(origin.letters):<4} {target(letter)}  {letter.error_type}: "
              f"{letter.error[:80]}")
    say("dry run: nothing changed")


def handle_replay(args: argparse.Namespace) -> int:
    conn, box, plan = _plan(args, _offsets(args.offsets), "re-drive")
    missing = sorted({t for t in (args.to_topic or letter.source_topic for letter in plan.letters)
                      if t is not None and t not in box.counts})
    if missing:
        raise ConfigError(f"origin topics {missing} no longer exist; re-drive with --to-topic")
    if args.dry_run:
        _list_dry_run(plan, lambda letter: f"-> {args.to_topic or letter.origin}")
        return 0
    if plan.origins:
        _ensure_ledger(conn)
        producer = Producer(producer_config(conn.bootstrap, conn.overrides, f"{conn.plan.name}-dlq-replay"))
        with progress("re-driving", len(plan.origins), "messages") as advance:
            ops.redrive(producer, plan, conn.plan.names.dlq_ledger(), args.to_topic, box.counts,
                        conn.plan.external_topics())
            advance(len(plan.origins))
    apply_offsets(conn.admin, box.group, {(box.topic, p): o for p, o in plan.new_offsets.items()})
    say(f"re-drove {len(plan.origins)} dead letters" + (f" to {args.to_topic}" if args.to_topic else
                                                        " to their origin topics"))
    return 0


def handle_skip(args: argparse.Namespace) -> int:
    offsets = _offsets(args.offsets)
    if not (args.all or args.filter_error is not None or offsets is not None):
        raise ConfigError("say which dead letters to skip: --filter-error TEXT, --offsets FROM-TO, or --all")
    conn, box, plan = _plan(args, offsets, "skip")
    if args.dry_run:
        _list_dry_run(plan, lambda letter: letter.origin)
        return 0
    if plan.origins:
        _ensure_ledger(conn)
        producer = Producer(producer_config(conn.bootstrap, conn.overrides, f"{conn.plan.name}-dlq-skip"))
        ops.skip(producer, plan, conn.plan.names.dlq_ledger())
    apply_offsets(conn.admin, box.group, {(box.topic, p): o for p, o in plan.new_offsets.items()})
    say(f"skipped {len(plan.origins)} dead letters; they stay in {box.topic} and are listed as skipped")
    return 0


def _ensure_ledger(conn: Connection) -> None:
    kadmin.ensure_topics(conn.admin, [TopicSpec(conn.plan.names.dlq_ledger(), 1, {"cleanup.policy": "compact"},
                                                "ledger of handled dead letters")])
