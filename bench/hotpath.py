"""The keyed count's per-message path without a broker, for instruction counts under cachegrind.

Wall-clock figures on this shared machine swing by +-30% with the host's load; the number of
instructions a message costs does not. This script runs the worker's own dispatch, task, bolt,
write-cache and checkpoint code over pre-built in-memory messages (the input of bench/keyed_count.py:
``--keys`` string keys, ``{"id": i, "amount": 3}`` JSON values) with a producer that drops what it is
given, so that only streamproc's Python remains. Compare versions by the difference of two runs:

    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        .venv/bin/python bench/hotpath.py --messages 200000
    (the same with --messages 100000)
    instructions per message = (I refs of the first - I refs of the second) / 100000

The difference cancels start-up (interpreter, imports, building the plan).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
from keyed_count import Count

from streamproc import JsonSerde, KafkaSink, KafkaSpout, StrSerde, Topology
from streamproc.kafka.memory import MemoryBroker
from streamproc.testing import TopologyTestDriver


def build() -> Topology:
    t = Topology("hotpath")
    t.spout("in", KafkaSpout("in", key_serde=StrSerde(), value_serde=JsonSerde()))
    t.bolt("count", Count).shuffle("in")
    t.bolt("out", KafkaSink("out", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("count")
    return t


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--checkpoint-every", type=int, default=20_000, help="messages between checkpoints")
    args = parser.parse_args(argv)
    state_dir = Path(tempfile.mkdtemp(prefix="streamproc-hotpath-"))
    try:
        broker = MemoryBroker()
        driver = TopologyTestDriver(build(), partitions=1, state_dir=state_dir, broker=broker)
        produce: Any = broker.append
        for i in range(args.messages):
            produce("in", 0, str(i % args.keys).encode(), orjson.dumps({"id": i, "amount": 3}), None, i + 1)
            if (i + 1) % args.checkpoint_every == 0:
                driver.process_pending()
                driver.checkpoint()
        driver.process_pending()
        driver.checkpoint()
        counted = driver.state("counts", str(0))
        expected = len(range(0, args.messages, args.keys))
        assert counted == expected, f"key '0' counted {counted}, expected {expected}"
        driver.close()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
