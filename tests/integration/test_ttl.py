"""State TTL in real worker processes: keys that expired stay gone after a SIGKILL and a restart, from the local
store or from the changelog alone, and their tombstones are in the changelog."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
from confluent_kafka import Producer

from streamproc import JsonSerde, Store
from streamproc.names import Names
from streamproc.serde.base import SerdeContext
from streamproc.state.reader import StoreReader
from streamproc.state.store import key_prefix
from tests.support.kafka import RunningTopology, committed, create_topic, read_all, unique, wait_for

pytestmark = pytest.mark.integration

TARGET = '''
from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology


class Keep(Bolt):
    """{{"set": v}} sets the key's value; {{}} reads it and emits what it found."""

    stores = [Store("kept", ttl=10)]

    def process(self, tup):
        if "set" in tup.value:
            self.state("kept").set(tup.value["set"])
        else:
            self.emit({{"key": tup.key, "found": self.state("kept").get()}}, key=tup.key)


topology = Topology({name!r})
topology.spout("in", KafkaSpout({source!r}, key_serde=StrSerde(), value_serde=JsonSerde()))
topology.bolt("keep", Keep).shuffle("in")
topology.bolt("out", KafkaSink({sink!r}, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("keep")
'''


def send(broker: str, topic: str, key: str, value: dict[str, int], timestamp: int) -> None:
    producer = Producer({"bootstrap.servers": broker})
    producer.produce(topic, value=json.dumps(value).encode(), key=key.encode(), partition=0, timestamp=timestamp)
    assert producer.flush(30) == 0


def ready_lines(running: RunningTopology) -> int:
    return len(re.findall(r"ready: processing", running.log()))


@pytest.mark.parametrize("lose_state", [False, True], ids=["local-store", "from-changelog"])
def test_expired_keys_stay_gone_after_sigkill_and_restart(broker: str, tmp_path: Path, lose_state: bool) -> None:
    name = unique("ttl")
    source, sink = f"{name}-in", f"{name}-out"
    target = tmp_path / "target.py"
    target.write_text(TARGET.format(name=name, source=source, sink=sink))
    create_topic(broker, source, 1)
    state_dir = tmp_path / "state"
    send(broker, source, "old", {"set": 1}, 1_000)  # expires at stream time 11000
    send(broker, source, "new", {"set": 2}, 5_000)  # expires at 15000
    send(broker, source, "tick", {"set": 0}, 12_000)  # stream time 12000: "old" is expired

    first = RunningTopology(target, broker, state_dir, tmp_path / "run-1.log")
    try:
        wait_for(lambda: committed(broker, name, source, 1).get(0) == 3, 90, "the three records to be committed")
        if lose_state:
            first.kill()
            shutil.rmtree(state_dir)
            running = RunningTopology(target, broker, state_dir, tmp_path / "run-2.log")
            wait_for(lambda: ready_lines(running) >= 1, 90, "the new worker to restore and run")
        else:
            running = first
            pid = int(re.findall(r"started worker 0 \(pid (\d+)\)", first.log())[-1])
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: "worker 0 exited with -9; restarting" in first.log() and ready_lines(first) >= 2, 90,
                     "the restarted worker to run")
        send(broker, source, "old", {}, 12_000)
        send(broker, source, "new", {}, 12_000)
        wait_for(lambda: committed(broker, name, source, 1).get(0) == 5, 90, "the reads to be committed")
    finally:
        assert running.stop() == 0
        if running is not first:
            first.kill()
    found = [json.loads(m.value()) for m in read_all(broker, sink)]
    assert found == [{"key": "old", "found": None}, {"key": "new", "found": 2}], running.log()[-3000:]
    at = {key: key_prefix(JsonSerde().serialize(key, SerdeContext("c", True)) or b"") for key in ("old", "new")}
    last = {m.key(): m.value() for m in read_all(broker, Names(name).changelog("kept"))}
    assert last[at["old"]] is None and last[at["new"]] is not None
    with StoreReader.local(Names(name), Store("kept", ttl=10), state_dir, 0) as reader:
        assert reader.get("old") is None and reader.get("new") == 2


def test_on_the_wall_clock_a_quiet_worker_deletes_expired_keys(broker: str, tmp_path: Path) -> None:
    """No input after the write: the worker still checkpoints once the key may have expired, and tombstones it."""
    name = unique("ttlw")
    source, sink = f"{name}-in", f"{name}-out"
    target = tmp_path / "target.py"
    target.write_text(TARGET.format(name=name, source=source, sink=sink).replace("ttl=10)", 'ttl=1, clock="wall")'))
    create_topic(broker, source, 1)
    send(broker, source, "k", {"set": 1}, 1_000)
    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log")
    at = key_prefix(JsonSerde().serialize("k", SerdeContext("c", True)) or b"")
    changelog = Names(name).changelog("kept")
    try:
        wait_for(lambda: committed(broker, name, source, 1).get(0) == 1, 90, "the write to be committed")

        def tombstoned() -> bool:
            last = {m.key(): m.value() for m in read_all(broker, changelog, timeout=5)}
            return at in last and last[at] is None

        wait_for(tombstoned, 60, "the expired key's tombstone, with no further input")
    finally:
        assert running.stop() == 0
    with StoreReader.local(Names(name), Store("kept", ttl=1, clock="wall"), tmp_path / "state", 0) as reader:
        assert reader.get("k") is None
