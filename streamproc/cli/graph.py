"""``streamproc graph TARGET [--mermaid]``: the topology, its sub-topologies and internal topics."""

from __future__ import annotations

import argparse
from typing import Any

from streamproc.describe import describe_mermaid, describe_text
from streamproc.loader import check_bolts, load_topology


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("graph", help="print a topology and the topics it uses")
    parser.add_argument("target", metavar="TARGET", help="file.py[:attr] or module[:attr] holding the Topology")
    parser.add_argument("--group-id", help="consumer group id, which names the internal topics (default: the topology "
                        "name)")
    parser.add_argument("--mermaid", action="store_true", help="print a Mermaid flowchart instead of text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    plan = load_topology(args.target).build(args.group_id)
    check_bolts(plan)
    print(describe_mermaid(plan) if args.mermaid else describe_text(plan))
    return 0
