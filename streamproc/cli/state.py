"""``streamproc state rebuild|get|dump``: look at and rebuild a topology's local state.

``get`` and ``dump`` open the local RocksDB copies read-only, so they are safe beside a running
worker; they show the state as of that worker's last checkpoint and say when the local copy is
behind its changelog (given a broker to ask). A memory store has no local copy: they restore it
from its changelog into memory first, as a worker would (committed inputs only), which needs a
broker. ``rebuild`` replays the changelogs into the local copies the way a worker restores them,
without processing any input; it has nothing to do for a memory store.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from streamproc.cli.connection import Connection, add_connection_arguments, bootstrap_of, connect
from streamproc.errors import ConfigError
from streamproc.kafka import admin as kadmin
from streamproc.kafka.clients import new_consumer
from streamproc.kafka.config import admin_config, consumer_config, parse_overrides, restore_consumer_config
from streamproc.kafka.reading import reader, true_watermarks
from streamproc.loader import load_topology
from streamproc.ops.progress import progress, say
from streamproc.ops.rebuild import RebuildTarget, rebuild, restore_in_memory
from streamproc.plan import Plan
from streamproc.state.backend import backend_class
from streamproc.state.reader import StoreReader, local_partitions
from streamproc.wording import counted


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("state", help="read or rebuild a topology's local state")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    rebuild_parser = actions.add_parser("rebuild", help="rebuild local stores from their changelogs, now")
    _common(rebuild_parser)
    rebuild_parser.add_argument("--store", help="only this store (default: every store)")
    rebuild_parser.add_argument("--partition", type=int, metavar="P", help="only this partition (default: all)")
    rebuild_parser.add_argument("--catch-up", action="store_true",
                                help="apply only what the local copy lacks instead of rebuilding it from scratch")
    rebuild_parser.set_defaults(handler=handle_rebuild)

    get_parser = actions.add_parser("get", help="the value of one key (read-only)")
    _common(get_parser)
    get_parser.add_argument("store", metavar="STORE", help="a store of the topology (see `streamproc graph`)")
    get_parser.add_argument("key", metavar="KEY", help="the key, as text (see --json-key)")
    get_parser.add_argument("--json-key", action="store_true", help="KEY is JSON (e.g. 42 or [\"a\", 1])")
    get_parser.add_argument("--json", action="store_true", help="machine-readable output")
    get_parser.set_defaults(handler=handle_get)

    dump_parser = actions.add_parser("dump", help="every entry of a store (read-only)")
    _common(dump_parser)
    dump_parser.add_argument("store", metavar="STORE", help="a store of the topology (see `streamproc graph`)")
    dump_parser.add_argument("--partition", type=int, metavar="P", help="only this partition")
    dump_parser.add_argument("--limit", type=int, metavar="N", help="at most N entries")
    dump_parser.add_argument("--format", choices=["table", "json"], default="table",
                             help="table, or json: one JSON object per line (default table)")
    dump_parser.set_defaults(handler=handle_dump)


def _common(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument("--state-dir", type=Path, default=Path("state"), metavar="DIR",
                        help="the state directory the workers use (default ./state)")


def _store(plan: Plan, name: str | None) -> list[str]:
    if name is None:
        if not plan.stores:
            raise ConfigError(f"topology {plan.name!r} has no stores")
        return sorted(plan.stores)
    if name not in plan.stores:
        known = ", ".join(sorted(plan.stores)) or "none"
        raise ConfigError(f"topology {plan.name!r} has no store {name!r} (its stores: {known})")
    return [name]


# --- rebuild ---------------------------------------------------------------------------------------
def handle_rebuild(args: argparse.Namespace) -> int:
    conn = connect(args)
    plan = conn.plan
    stores = _store(plan, args.store)
    in_memory = [s for s in stores if not _durable(plan, s)]
    if in_memory and args.store is not None:
        raise ConfigError(f"store {args.store!r} keeps its state in memory: it has no local copy to rebuild "
                          "(workers restore it from its changelog at every assignment)")
    if in_memory:
        say(f"skipping {', '.join(in_memory)}: kept in memory, no local copy")
    stores = [s for s in stores if s not in in_memory]
    counts = kadmin.partition_counts(conn.admin)
    targets: list[RebuildTarget] = []
    for store in stores:
        changelog = plan.names.changelog(store)
        if changelog not in counts:
            raise ConfigError(f"changelog {changelog!r} of store {store!r} does not exist: nothing to rebuild from")
        if args.partition is not None and not 0 <= args.partition < counts[changelog]:
            raise ConfigError(f"--partition {args.partition}: {changelog!r} has partitions 0..{counts[changelog] - 1}")
        partitions = [args.partition] if args.partition is not None else range(counts[changelog])
        targets += [RebuildTarget(store, p) for p in partitions]
    with ExitStack() as stack:
        restore, probe, group = _restore_clients(stack, conn, f"{plan.name}-rebuild")

        def bar(total: int | None) -> Callable[[int], None]:
            return stack.enter_context(progress(f"rebuilding {len(targets)} store partitions", total))

        read = rebuild(plan, targets, args.state_dir, restore, probe, group, not args.catch_up, bar)
    records = counted(read, "changelog record", thousands=True)
    rebuilt = ", ".join(f"{t.store}[{t.partition}]" for t in targets)
    say(f"rebuilt {rebuilt} from {records} in {plan.names.state_root(args.state_dir)}")
    return 0


# --- get and dump ----------------------------------------------------------------------------------
class _Freshness:
    """Compares local copies with their changelogs when a broker is known; says so when not."""

    def __init__(self, args: argparse.Namespace, plan: Plan) -> None:
        overrides = parse_overrides(args.overrides)
        self._bootstrap = bootstrap_of(args, overrides)
        self._consumer: Consumer | None = None
        if self._bootstrap:
            kadmin.connect(admin_config(self._bootstrap, overrides, f"{plan.name}-state"), 15.0)
            self._consumer = reader(self._bootstrap, overrides, f"{plan.name}-state")

    def behind(self, changelog: str, partition: int, local_offset: int) -> int | None:
        """Changelog records the local copy lacks; None when no broker was given."""
        if self._consumer is None:
            return None
        _, end = true_watermarks(self._consumer, changelog, partition)
        return max(0, end - local_offset)

    def report(self, store: str, partition: int, behind: int | None) -> None:
        if behind is None:
            say("note: not compared with the changelog (no --bootstrap-servers); the local copy may be behind it")
        elif behind:
            lacking = counted(behind, "changelog record", thousands=True)
            say(f"note: local copy of {store}[{partition}] is {lacking} behind (another host owns "
                "the partition, or a worker here has not restored it yet); `streamproc state rebuild` updates it")

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()


def _durable(plan: Plan, store: str) -> bool:
    return backend_class(plan.stores[store][1]).durable


def _readers(args: argparse.Namespace, plan: Plan, store: str, partition: int | None) -> Iterator[StoreReader]:
    if not _durable(plan, store):
        yield from _memory_readers(args, plan, store, partition)
        return
    spec = plan.stores[store][1]
    found = local_partitions(args.state_dir, plan.names, store)
    if partition is not None:
        if partition not in found:
            raise ConfigError(f"no local copy of {store}[{partition}] under {args.state_dir} (local partitions: "
                              f"{found or 'none'}); `streamproc state rebuild --partition {partition}` creates it")
        found = [partition]
    elif not found:
        raise ConfigError(f"no local copy of store {store!r} under {plan.names.state_root(args.state_dir)}; run the "
                          "topology or `streamproc state rebuild` first")
    for p in found:
        with StoreReader.local(plan.names, spec, args.state_dir, p) as opened:
            yield opened


def _memory_readers(args: argparse.Namespace, plan: Plan, store: str, partition: int | None
                    ) -> Iterator[StoreReader]:
    """A memory store's partitions, restored from the changelog (needs a broker)."""
    try:
        conn = connect(args)
    except ConfigError as exc:
        raise ConfigError(f"store {store!r} keeps its state in memory, so there is no local copy; reading it "
                          f"from its changelog needs a broker: {exc}") from exc
    changelog = plan.names.changelog(store)
    count = kadmin.partition_counts(conn.admin).get(changelog)
    if count is None:
        raise ConfigError(f"changelog {changelog!r} of memory store {store!r} does not exist: the store is empty")
    if partition is not None and not 0 <= partition < count:
        raise ConfigError(f"--partition {partition}: {changelog!r} has partitions 0..{count - 1}")
    with ExitStack() as stack:
        restore, probe, group = _restore_clients(stack, conn, f"{plan.name}-state")
        partitions = [partition] if partition is not None else list(range(count))
        parts = restore_in_memory(plan, store, partitions, restore, probe, group,
                                  lambda total: stack.enter_context(progress(f"reading {changelog}", total)))
    for part in parts:
        with StoreReader(plan.names, part.spec, part.backend, part.partition) as opened:
            yield opened


def handle_get(args: argparse.Namespace) -> int:
    plan = load_topology(args.target).build(args.group_id)
    store = _store(plan, args.store)[0]
    try:
        key = json.loads(args.key) if args.json_key else args.key
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--json-key: {args.key!r} is not JSON ({exc})") from exc
    freshness = _Freshness(args, plan)
    try:
        for opened in _readers(args, plan, store, None):
            value = opened.get(key)
            items = list(opened.items(key))
            if value is None and not items:
                continue
            behind = freshness.behind(plan.names.changelog(store), opened.partition, opened.changelog_offset())
            if args.json:
                answer = {"store": store, "key": key, "partition": opened.partition, "value": value,
                          "behind_changelog": behind}
                if items:
                    answer["items"] = [{"sub_key": sub, "value": v} for sub, v in items]
                print(json.dumps(answer, default=str))
            else:
                _print_value(value, items)
            freshness.report(store, opened.partition, behind)
            return 0
    finally:
        freshness.close()
    say(f"key {key!r} is not in the local copy of store {store!r} (partitions: "
        f"{local_partitions(args.state_dir, plan.names, store)})")
    return 1


def _print_value(value: Any, items: list[tuple[Any, Any]]) -> None:
    """A plain value as JSON on one line; a map key as one ``[sub-key]  value`` line per sub-key (after
    its own value, as ``(value)  ...``, in the rare case that it has both)."""
    if not items:
        print(json.dumps(value, default=str))
        return
    if value is not None:
        print(f"{'(value)':<30}  {json.dumps(value, default=str)}")
    for sub, v in items:
        print(f"{'[' + json.dumps(sub, default=str) + ']':<30}  {json.dumps(v, default=str)}")


def handle_dump(args: argparse.Namespace) -> int:
    plan = load_topology(args.target).build(args.group_id)
    store = _store(plan, args.store)[0]
    if args.limit is not None and args.limit < 0:
        raise ConfigError(f"--limit {args.limit}: give a count of entries, 0 or more")
    freshness = _Freshness(args, plan)
    printed = 0
    if args.format == "table":
        print(f"{'part':>4}  {'key':<40}  value")
    try:
        for opened in _readers(args, plan, store, args.partition):
            freshness.report(store, opened.partition, freshness.behind(plan.names.changelog(store),
                                                                       opened.partition, opened.changelog_offset()))
            for key, sub, value in opened.entries():
                if args.limit is not None and printed >= args.limit:
                    return 0
                if args.format == "json":
                    entry = {"partition": opened.partition, "key": key, "value": value}
                    if sub is not None:
                        entry["sub_key"] = sub
                    print(json.dumps(entry, default=str))
                else:
                    shown = json.dumps(key, default=str) + ("" if sub is None else f"[{json.dumps(sub, default=str)}]")
                    print(f"{opened.partition:>4}  {shown:<40}  {json.dumps(value, default=str)}")
                printed += 1
    finally:
        freshness.close()
    return 0


def _restore_clients(stack: ExitStack, conn: Connection, client_id: str) -> tuple[Consumer, Consumer, Consumer]:
    """What a restore outside a worker reads with, closed with ``stack``: the restore consumer, a consumer
    that confirms changelog ends, and one in the group that reads its committed offsets."""
    restore_config = restore_consumer_config(conn.bootstrap, conn.plan.names.restore_group(), conn.overrides, client_id)
    restore = new_consumer(restore_config, "restore consumer")
    stack.callback(restore.close)
    probe = reader(conn.bootstrap, conn.overrides, client_id)
    stack.callback(probe.close)
    group = new_consumer(consumer_config(conn.bootstrap, conn.group_id, conn.overrides, client_id))
    stack.callback(group.close)
    return restore, probe, group
