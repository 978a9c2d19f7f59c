"""The state side of a keyed count, without a broker: for instruction counts of the write cache and a backend.

Per message: ``state.get()`` and ``state.set()`` on one of ``--keys`` keys (or a blind ``set`` with
``--blind``); every ``--checkpoint`` messages: stage the changelog records (sent nowhere), commit them to
the backend, and ask for the entry count as the worker's gauges do. Compare versions by instructions:

    valgrind --tool=cachegrind --cache-sim=no python bench/state_hotpath.py 0
    valgrind --tool=cachegrind --cache-sim=no python bench/state_hotpath.py 200000
    # (difference) / 200000 = instructions per message; --backend memory for the memory backend,
    # --ttl SECONDS for a store with a TTL (its clock is then the wall clock's)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from streamproc import Bolt, Store, Tuple
from streamproc.names import Names
from streamproc.state.keyed import keyed_state
from streamproc.state.partition import open_partition


class Owner(Bolt):
    def process(self, tup: Tuple) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("messages", type=int)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--checkpoint", type=int, default=50_000, help="messages between checkpoints")
    parser.add_argument("--backend", default="rocksdb")
    parser.add_argument("--ttl", type=float, help="a store with this TTL in seconds (default: none)")
    parser.add_argument("--blind", action="store_true", help="set without reading first (a last value per key)")
    args = parser.parse_args()
    tuples = [Tuple(f"k{i % args.keys}", None, "t", 0, i, None, None, "default", "x") for i in range(args.messages)]
    with tempfile.TemporaryDirectory() as tmp:
        part = open_partition(Store("counts", backend=args.backend, ttl=args.ttl), Path(tmp), Names("bench"), 0)
        owner = Owner()
        state = keyed_state(owner, part)
        for i, tup in enumerate(tuples):
            owner._current = tup
            if args.blind:
                state.set(i)
            else:
                state.set(state.get(0) + 1)
            if (i + 1) % args.checkpoint == 0:
                part.stage_changelog(lambda *_: None)
                part.commit_local({("in", 0): i + 1})
                part.backend.entry_count()
        part.close()


if __name__ == "__main__":
    main()
