"""``streamproc``: run, broker, graph, topics, lag, replay, state, dlq. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from streamproc.cli import broker, dlq, graph, lag, replay, run, state, topics
from streamproc.errors import StreamprocError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamproc",
        description="Storm-style topologies on Kafka partitions, with keyed RocksDB state.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run, broker, graph, topics, lag, replay, state, dlq):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except StreamprocError as exc:
        print(f"streamproc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
