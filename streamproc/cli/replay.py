"""``streamproc replay TARGET --to-...``: move a topology's committed input offsets to reprocess (or skip) data.

Safe by default: refuses while workers run, refuses to replay into kept state unless told which
of the two outcomes is wanted, shows the plan and asks before changing anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from streamproc.cli.connection import Connection, add_connection_arguments, connect
from streamproc.errors import ConfigError
from streamproc.kafka import admin as kadmin
from streamproc.kafka.clients import new_consumer
from streamproc.kafka.config import consumer_config, producer_config
from streamproc.kafka.reading import committed_offsets, reader
from streamproc.ops import dlq as dlq_ops
from streamproc.ops import replay as ops
from streamproc.ops.group import active_members, require_inactive
from streamproc.ops.progress import progress, say
from streamproc.ops.reset import StateReset, plan_state_reset, reset_state


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "replay", help="move the topology's committed input offsets to reprocess data (optionally resetting state)"
    )
    add_connection_arguments(parser)
    to = parser.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-earliest", action="store_true", help="the start of each partition")
    to.add_argument("--to-latest", action="store_true", help="the end of each partition (skip the backlog)")
    to.add_argument("--to-datetime", metavar="ISO8601", help="the first record at or after this time, e.g. "
                    "2026-11-21T08:00:00Z (no offset: local time)")
    to.add_argument("--to-offset", type=int, metavar="N", help="this offset in every selected partition")
    to.add_argument("--shift-by", type=int, metavar="N", help="the committed offset plus N (negative: back)")
    to.add_argument("--by-duration", metavar="DURATION", help="the first record at or after now minus an ISO 8601 "
                    "duration, e.g. PT1H")
    parser.add_argument("--topic", action="append", default=[], metavar="T[:P]",
                        help="only this input topic, or one of its partitions (repeatable; default: every input)")
    state = parser.add_mutually_exclusive_group()
    state.add_argument("--reset-state", action="store_true",
                       help="truncate the state: recreate changelog and repartition topics, delete local state, "
                            "restart internal topics from their start")
    state.add_argument("--keep-state", action="store_true",
                       help="keep the state as it is: replayed inputs are applied to it a second time, also "
                            "behind repartition topics")
    parser.add_argument("--state-dir", type=Path, default=Path("state"),
                        help="this host's state directory, removed by --reset-state (default ./state)")
    parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    parser.add_argument("--yes", action="store_true", help="apply without asking")
    parser.add_argument("--json", action="store_true", help="machine-readable plan (with --dry-run)")
    parser.set_defaults(handler=handle)


def _target(args: argparse.Namespace) -> ops.Target:
    if args.to_earliest:
        return ops.Target("earliest")
    if args.to_latest:
        return ops.Target("latest")
    if args.to_offset is not None:
        if args.to_offset < 0:
            raise ConfigError(f"--to-offset {args.to_offset}: offsets are not negative")
        return ops.Target("offset", args.to_offset)
    if args.shift_by is not None:
        return ops.Target("shift", args.shift_by)
    if args.by_duration is not None:
        now = datetime.now(UTC)
        return ops.time_target(int((now - ops.parse_duration(args.by_duration)).timestamp() * 1000))
    return ops.time_target(ops.parse_datetime(args.to_datetime))


def _check_state_choice(conn: Connection, args: argparse.Namespace) -> None:
    stores = sorted(conn.plan.stores)
    if stores and not (args.reset_state or args.keep_state):
        raise ConfigError(
            f"topology {conn.plan.name!r} keeps state (stores: {', '.join(stores)}); replaying its inputs into that "
            "state would apply them twice. Pass --reset-state to truncate the state and rebuild it from the replayed "
            "inputs, or --keep-state if applying them again is what you want (idempotent bolts)"
        )
    if args.reset_state and args.topic:
        raise ConfigError("--reset-state truncates all of the topology's state, so it replays every input partition; "
                          "drop --topic")


def handle(args: argparse.Namespace) -> int:
    target = _target(args)  # bad times and durations fail before anything is contacted
    conn = connect(args)
    _check_state_choice(conn, args)
    counts = kadmin.partition_counts(conn.admin)
    missing = [t for t in conn.plan.external_topics() if t not in counts]
    if missing:
        raise ConfigError(f"input topics {missing} do not exist; there is nothing to replay")
    partitions = ops.select_partitions({t: counts[t] for t in conn.plan.external_topics()}, args.topic)
    group_reader = new_consumer(consumer_config(conn.bootstrap, conn.group_id, conn.overrides,
                                                f"{conn.plan.name}-replay"))
    records = reader(conn.bootstrap, conn.overrides, f"{conn.plan.name}-replay")
    try:
        committed = committed_offsets(group_reader, partitions)
        with progress(f"finding offsets ({target.describe()})", len(partitions), "partitions") as advance:
            moves = ops.plan_moves(records, partitions, committed, target, advance)
    finally:
        group_reader.close()
        records.close()
    reset = plan_state_reset(conn.admin, conn.plan, args.state_dir) if args.reset_state else None
    # Without a reset, the internal topics stay: a barrier tells the tasks behind them which inputs are
    # replayed on purpose (runtime/dedupe.py).
    rewound = [(m.topic, m.partition) for m in moves if m.to_reprocess > 0]
    barriers = {} if reset is not None or not rewound else {
        t: counts[t] for t in conn.plan.internal_topics if t in counts}
    _print_plan(conn, target, moves, reset, barriers, args.json)
    _note_unguarded_copies(conn, counts)
    if args.dry_run:
        members = active_members(conn.admin, conn.group_id)
        if members is not None:
            say(f"note: group {conn.group_id!r} is active now; the replay itself would refuse until its workers stop")
        say("dry run: nothing changed")
        return 0
    require_inactive(conn.admin, conn.group_id, "replay")
    if not args.yes:
        _confirm()
    offsets = {(m.topic, m.partition): m.new for m in moves}
    if reset is not None:
        reset_state(conn.admin, reset, say)
        offsets.update(reset.internal_offsets)
    elif barriers:
        producer = Producer(producer_config(conn.bootstrap, conn.overrides, f"{conn.plan.name}-replay"))
        written = ops.write_barriers(producer, barriers, rewound)
        say(f"wrote a replay barrier to {written} internal topic partitions: tasks behind them apply the "
            "replayed records again")
    with progress("moving offsets", len(offsets), "partitions") as advance:
        ops.apply_offsets(conn.admin, conn.group_id, offsets)
        advance(len(offsets))
    say(f"done: the next run of {conn.plan.name!r} reprocesses {sum(max(0, m.to_reprocess) for m in moves):,} "
        "messages. If this command was interrupted, run it again: it is safe to repeat.")
    return 0


def _note_unguarded_copies(conn: Connection, counts: dict[str, int]) -> None:
    """Re-driven dead letters in inputs read by a sub-topology without state are applied whatever happened to
    their originals (runtime/redrive.py): say so before a replay makes those originals count again."""
    unguarded = {t for sub in conn.plan.subtopologies if not sub.stores for t in sub.external_topics}
    if not unguarded or conn.plan.names.dlq_ledger() not in counts:
        return
    records = reader(conn.bootstrap, conn.overrides, f"{conn.plan.name}-replay")
    try:
        ledger = dlq_ops.read_ledger(records, conn.plan.names.dlq_ledger(), True)
    finally:
        records.close()
    found = [origin for origin, status in ledger.origins.items()
             if status == "re-driven" and origin.split("[", 1)[0] in unguarded]
    if found:
        say(f"note: {len(found)} re-driven dead letters went back to {', '.join(sorted(unguarded))}, whose bolts keep "
            "no state and so cannot tell a re-driven copy from its original: where a replayed original now succeeds, "
            "both count (give a bolt of that stage a store to guard it)")


def _confirm() -> None:
    if not sys.stdin.isatty():
        raise ConfigError("not changing anything without confirmation: pass --yes (or --dry-run to only look)")
    answer = input("apply this replay? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise ConfigError("cancelled; nothing changed")


def _print_plan(conn: Connection, target: ops.Target, moves: list[ops.OffsetMove], reset: StateReset | None,
                barriers: dict[str, int], as_json: bool) -> None:
    if as_json:
        print(json.dumps({
            "group": conn.group_id,
            "target": target.describe(),
            "partitions": [{**asdict(m), "to_reprocess": m.to_reprocess} for m in moves],
            "total_to_reprocess": sum(m.to_reprocess for m in moves),
            "reset_state": None if reset is None else {
                "recreate_topics": [s.name for s in reset.topics],
                "remove_local_dir": str(reset.local_dir),
            },
            "replay_barrier": sorted(barriers),
        }, indent=2))
        return
    print(f"replay of group {conn.group_id!r} to {target.describe()}")
    width = max([len(m.topic) for m in moves] + [5])
    print(f"{'topic':<{width}}  {'part':>4}  {'current':>10}  {'new':>10}  {'reprocess':>10}")
    for m in moves:
        current = "-" if m.current is None else str(m.current)
        print(f"{m.topic:<{width}}  {m.partition:>4}  {current:>10}  {m.new:>10}  {m.to_reprocess:>10}")
    print(f"{'total':<{width}}  {'':>4}  {'':>10}  {'':>10}  {sum(m.to_reprocess for m in moves):>10}")
    if reset is not None:
        print("state reset: delete and recreate " + ", ".join(s.name for s in reset.topics)
              + f"; remove {reset.local_dir}; internal topics restart from offset 0")
    if barriers:
        print("replay barrier (replayed records are applied again behind them): " + ", ".join(sorted(barriers)))
