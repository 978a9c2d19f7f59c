"""The write-cache bound in a real worker: writing far more distinct keys per interval than --max-cache-entries
keeps the worker's memory flat (it checkpoints early), and loses nothing; without the bound it grows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streamproc import Store
from streamproc.names import Names
from streamproc.state.reader import StoreReader
from tests.support.kafka import RunningTopology, committed, create_topic, produce, unique, wait_for

pytestmark = pytest.mark.integration

TARGET = '''
from streamproc import Bolt, JsonSerde, KafkaSpout, Store, Topology


class Remember(Bolt):
    """Every record writes a key of its own: 300 one-int lists, ~30 KB as Python objects but 2 KB encoded, so that
    what the write cache holds dominates what the rest of the worker (RocksDB's memtable, librdkafka) does."""

    stores = [Store("seen")]

    def process(self, tup):
        base = 1000 + tup.value
        self.state("seen").set([[base + i] for i in range(300)])


topology = Topology({name!r})
topology.spout("in", KafkaSpout({source!r}, key_serde=JsonSerde(), value_serde=JsonSerde()))
topology.bolt("remember", Remember).shuffle("in")
'''
RECORDS = 6_000
BOUND = 200
#: Peak RSS growth (MB) the bounded worker stays under and an unbounded one exceeds. Measured on 2026-11-30: 28 MB
#: with the bound (at most 2 x 200 entries: a small bound caps the consumed batch too), 208 MB without.
LIMIT_MB = 80


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM): what it needed at its worst, whenever that was."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def start(tmp_path: Path, broker: str, cache_entries: int) -> tuple[str, str, RunningTopology, int]:
    name = unique("wcache")
    source = f"{name}-in"
    target = tmp_path / f"{name}.py"
    target.write_text(TARGET.format(name=name, source=source))
    create_topic(broker, source, 1)
    running = RunningTopology(target, broker, tmp_path / name, tmp_path / f"{name}.log", "--commit-interval", "600",
                              "--max-cache-entries", str(cache_entries))
    wait_for(lambda: "ready: processing" in running.log(), 90, "the worker to be assigned its partition")
    pid = int(re.findall(r"started worker 0 \(pid (\d+)\)", running.log())[-1])
    return name, source, running, pid


def feed(broker: str, source: str) -> None:
    produce(broker, source, (str(i) for i in range(RECORDS)))  # keyed by their index, as the values


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the worker's peak RSS from /proc")
def test_a_bounded_write_cache_keeps_the_worker_flat_and_loses_nothing(broker: str, tmp_path: Path) -> None:
    name, source, running, pid = start(tmp_path, broker, BOUND)
    try:
        base = peak_rss_mb(pid)
        feed(broker, source)
        # The interval (600 s) never comes: only early checkpoints commit while the input is processed.
        wait_for(lambda: committed(broker, name, source, 1).get(0, 0) >= RECORDS - 2 * BOUND, 120,
                 "early checkpoints to commit nearly all the input")
        growth = peak_rss_mb(pid) - base
        early = running.log().count("(write-cache)")
    finally:
        assert running.stop() == 0
    assert growth < LIMIT_MB, f"peak RSS grew by {growth:.0f} MB with a bound of {BOUND} entries"
    assert early >= RECORDS // (2 * BOUND) - 1, running.log()[-3000:]
    spec = Store("seen")
    with StoreReader.local(Names(name), spec, tmp_path / name, 0) as reader:
        entries = {key: value for key, _, value in reader.entries()}
    # The stop's final checkpoint commits what the worker had read by then (the last batches may still be in the
    # topic, for the next run): every committed record has its entry, and no other record has one.
    done = committed(broker, name, source, 1)[0]
    assert done >= RECORDS - 2 * BOUND
    assert sorted(entries) == list(range(done))
    assert all(value == [[1000 + key + i] for i in range(300)] for key, value in entries.items())


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the worker's peak RSS from /proc")
def test_without_the_bound_the_same_input_grows_the_worker_past_the_limit(broker: str, tmp_path: Path) -> None:
    """The control: what the bound prevents is real, so the test above can fail."""
    _, source, running, pid = start(tmp_path, broker, 10_000_000)
    try:
        base = peak_rss_mb(pid)
        feed(broker, source)
        wait_for(lambda: peak_rss_mb(pid) - base > LIMIT_MB, 120, f"the unbounded worker to grow by {LIMIT_MB} MB")
    finally:
        running.kill()
