"""``streamproc broker``: the embedded development broker in the foreground."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from streamproc.devbroker import EmbeddedBroker


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "broker", help="run the embedded Kafka-protocol broker (Tansu, in-memory) in the foreground"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9092)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    broker = EmbeddedBroker(args.host, args.port)
    command = broker.command()
    print(f"embedded broker (Tansu, in-memory storage) on {broker.bootstrap_servers}; Ctrl-C stops it",
          file=sys.stderr, flush=True)
    os.execv(command[0], command)  # replace this process: signals go straight to the broker
    return 0  # pragma: no cover
