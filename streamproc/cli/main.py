"""``streamproc``: run, broker, graph, topics, lag, replay, state, dlq. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import contextlib
import os
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


#: The exit status of a command whose reader went away (``| head``): what a shell reports for a
#: process ended by SIGPIPE (128 + 13), so ``set -o pipefail`` scripts see the same as for other tools.
EXIT_CLOSED_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        sys.stdout.flush()  # inside the try: a closed pipe often shows only at this last flush
    except BrokenPipeError:
        return _closed_pipe()
    except StreamprocError as exc:
        print(f"streamproc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return code


def _closed_pipe() -> int:
    """End quietly when the reader of our output has gone (``dlq list --json | head -2``).

    Nothing is left to say to it. Python would still try to flush the buffered rest at exit and print
    a traceback about that, so the standard streams are pointed at /dev/null first. SIGPIPE is not
    restored to its default instead, because ``run`` shares this entry point and its sockets must see
    EPIPE as an error, not die of it.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # ValueError: not a real file (a test's capture)
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
    return EXIT_CLOSED_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
