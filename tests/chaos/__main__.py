"""`python -m tests.chaos` (`make chaos`): the chaos scenario at full size against its own broker and proxy.

Exits 0 when nothing was lost and every count is exact, 1 otherwise; the summary goes to stdout.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

from tests.chaos.brokers import BROKERS, chaos_broker
from tests.chaos.driver import ChaosConfig, ChaosDriver
from tests.support.kafka import TEST_BROKER


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--outage", type=float, default=30.0,
                        help="seconds the broker connection is cut once (kafka-cluster: a broker is down)")
    parser.add_argument("--guarantee", default="at-least-once", choices=["at-least-once", "exactly-once"])
    parser.add_argument("--broker", default="tansu", choices=BROKERS,
                        help="the embedded broker, or Apache Kafka (tests/support/apache_kafka.py): one node behind "
                             "a proxy that is cut, or three nodes (replication factor 3) of which one is killed")
    parser.add_argument("--workload", default="wordcount", choices=["wordcount", "windowed", "sessions"],
                        help="the word count, or a per-minute count (windowed) or a count per session with final "
                             "emission, checked against the brute-force oracle (tests/chaos/windowed.py)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="logs and state directories (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.broker != "tansu" and TEST_BROKER != "kafka":
        # The tests' client settings and readers are chosen when tests.support.kafka is imported, from
        # STREAMPROC_TEST_BROKER (Kafka: fetch.wait.max.ms=100, and no re-reading of offset gaps).
        command = [sys.executable, "-m", "tests.chaos", *(sys.argv[1:] if argv is None else argv)]
        os.execve(sys.executable, command, {**os.environ, "STREAMPROC_TEST_BROKER": "kafka"})
    logging.basicConfig(level=logging.WARNING)
    config = ChaosConfig(messages=args.messages, kills=args.kills, outage=args.outage, guarantee=args.guarantee,
                         seed=args.seed, workload=args.workload)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="streamproc-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    outage = "broker kill" if args.broker == "kafka-cluster" else "outage"
    print(f"chaos on {args.broker}: {config.messages:,} messages, {config.kills} kills, {config.outage:.0f} s "
          f"{outage}, {config.guarantee}; logs in {workdir}", flush=True)
    with chaos_broker(args.broker, workdir) as broker:
        summary = ChaosDriver(broker, workdir, config).run()
    print(summary.render(), flush=True)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
