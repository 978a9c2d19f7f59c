"""A windowed bolt in real worker processes: a tumbling count with final emission, SIGKILLed mid-window, restarted
on its local store or from the changelog, emits each window's final exactly once with the exact count."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.support.kafka import RunningTopology, committed, create_topic, read_all, unique, wait_for

pytestmark = pytest.mark.integration

TARGET = '''
from streamproc import JsonSerde, KafkaSink, KafkaSpout, StrSerde, Topology
from streamproc.windows import Tumbling, WindowedBolt, agg


class PerMinute(WindowedBolt):
    window = Tumbling(size=60_000, grace=5_000)
    aggregation = agg.count()
    emit_mode = "final"


topology = Topology({name!r})
topology.spout("in", KafkaSpout({source!r}, key_serde=StrSerde(), value_serde=JsonSerde()))
topology.bolt("count", PerMinute).shuffle("in")
topology.bolt("out", KafkaSink({sink!r}, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("count")
'''


def send(broker: str, topic: str, records: list[tuple[str, int]]) -> None:
    producer = Producer({"bootstrap.servers": broker, "enable.idempotence": True})
    for key, timestamp in records:
        producer.produce(topic, value=json.dumps({"key": key}).encode(), key=key.encode(), partition=0,
                         timestamp=timestamp)
    assert producer.flush(30) == 0


def ready_lines(running: RunningTopology) -> int:
    return len(re.findall(r"ready: processing", running.log()))


@pytest.mark.parametrize("lose_state", [False, True], ids=["local-store", "from-changelog"])
def test_a_tumbling_final_count_is_exact_across_a_sigkill_mid_window(broker: str, tmp_path: Path,
                                                                     lose_state: bool) -> None:
    name = unique("windows")
    source, sink = f"{name}-in", f"{name}-out"
    target = tmp_path / "target.py"
    target.write_text(TARGET.format(name=name, source=source, sink=sink))
    create_topic(broker, source, 1)
    state_dir = tmp_path / "state"
    first_half = [(key, 1000 + i) for i in range(50) for key in ("a", "b")]  # window [0, 60000)
    second_half = [(key, 30_000 + i) for i in range(30) for key in ("a", "c")]  # same window, after the cut
    send(broker, source, first_half)

    first = RunningTopology(target, broker, state_dir, tmp_path / "run-1.log")
    running = first
    try:
        wait_for(lambda: committed(broker, name, source, 1).get(0) == len(first_half), 90,
                 "the first half of the window to be committed")
        send(broker, source, second_half)  # processed or not when the kill comes: either way replayed exactly
        if lose_state:
            first.kill()  # the whole process group, and its state directory: restored from the changelog
            shutil.rmtree(state_dir)
            running = RunningTopology(target, broker, state_dir, tmp_path / "run-2.log")
            wait_for(lambda: ready_lines(running) >= 1, 90, "the new worker to restore and run")
        else:
            pid = int(re.findall(r"started worker 0 \(pid (\d+)\)", first.log())[-1])
            os.kill(pid, signal.SIGKILL)  # no final checkpoint; the supervisor restarts it on the local store
            wait_for(lambda: "worker 0 exited with -9; restarting" in first.log() and ready_lines(first) >= 2, 90,
                     "the restarted worker to run")
        total = len(first_half) + len(second_half)
        wait_for(lambda: committed(broker, name, source, 1).get(0) == total, 90, "the whole window to be committed")
        assert read_all(broker, sink) == [], "the window is open until stream time reaches 65000"
        send(broker, source, [("z", 65_000)])  # closes [0, 60000)
        wait_for(lambda: committed(broker, name, source, 1).get(0) == total + 1, 90, "the closing record")
        wait_for(lambda: len(read_all(broker, sink)) >= 3, 90, "the finals")
    finally:
        assert running.stop() == 0
        if running is not first:
            first.kill()
    finals = [(m.key().decode(), json.loads(m.value()), m.timestamp()[1]) for m in read_all(broker, sink)]
    assert finals == [
        ("a", {"key": "a", "start": 0, "end": 60_000, "value": 80}, 59_999),
        ("b", {"key": "b", "start": 0, "end": 60_000, "value": 50}, 59_999),
        ("c", {"key": "c", "start": 0, "end": 60_000, "value": 30}, 59_999),
    ], running.log()[-3000:]
