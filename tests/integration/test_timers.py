"""Keyed timers in real worker processes: a timer committed before a SIGKILL fires exactly once after the restart."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.support.kafka import RunningTopology, TopicTail, committed, create_topic, read_all, unique, wait_for

pytestmark = pytest.mark.integration

TARGET = '''
from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology


class Remind(Bolt):
    """Schedules an event-time timer {delay} ms after each record's event time; reports it when it fires."""

    stores = [Store("reminders")]

    def process(self, tup):
        self.state("reminders").set(tup.timestamp)
        self.timers.at_event_time(tup.timestamp + {delay})

    def on_timer(self, key, when, kind):
        self.emit({{"key": key, "when": when, "kind": kind, "seen": self.state("reminders").get()}}, key=key)


topology = Topology({name!r})
topology.spout("in", KafkaSpout({source!r}, key_serde=StrSerde(), value_serde=JsonSerde()))
topology.bolt("remind", Remind).shuffle("in")
topology.bolt("out", KafkaSink({sink!r}, key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("remind")


class Tick(Bolt):
    tick_interval = 0.5

    def process(self, tup):
        pass

    def on_tick(self):
        self.emit({{"tick": True}}, key="tick")


topology.bolt("tick", Tick).shuffle("in")
topology.bolt("ticks", KafkaSink({sink!r} + "-ticks", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("tick")
'''


def send(broker: str, topic: str, key: str, timestamp: int) -> None:
    producer = Producer({"bootstrap.servers": broker})
    producer.produce(topic, value=b"{}", key=key.encode(), partition=0, timestamp=timestamp)
    assert producer.flush(30) == 0


def ready_lines(running: RunningTopology) -> int:
    return len(re.findall(r"ready: processing", running.log()))


@pytest.mark.parametrize("lose_state", [False, True], ids=["local-store", "from-changelog"])
def test_a_timer_committed_before_sigkill_fires_once_after_the_restart(broker: str, tmp_path: Path,
                                                                      lose_state: bool) -> None:
    name = unique("timers")
    source, sink = f"{name}-in", f"{name}-out"
    target = tmp_path / "target.py"
    target.write_text(TARGET.format(name=name, source=source, sink=sink, delay=10_000))
    create_topic(broker, source, 1)
    state_dir = tmp_path / "state"
    send(broker, source, "k", 1000)  # its timer is due at 11000

    first = RunningTopology(target, broker, state_dir, tmp_path / "run-1.log")
    try:
        wait_for(lambda: committed(broker, name, source, 1).get(0) == 1, 90,
                 "the record (and the timer it scheduled) to be committed")
        if lose_state:
            first.kill()  # the whole process group; the state directory goes too: restored from the changelog
            shutil.rmtree(state_dir)
            running = RunningTopology(target, broker, state_dir, tmp_path / "run-2.log")
            wait_for(lambda: ready_lines(running) >= 1, 90, "the new worker to restore and run")
        else:
            running = first
            pid = int(re.findall(r"started worker 0 \(pid (\d+)\)", first.log())[-1])
            os.kill(pid, signal.SIGKILL)  # no final checkpoint; the supervisor restarts it on the local store
            wait_for(lambda: "worker 0 exited with -9; restarting" in first.log() and ready_lines(first) >= 2, 90,
                     "the restarted worker to run")
        assert read_all(broker, sink) == [], "nothing is due before stream time passes 11000"
        send(broker, source, "other", 20_000)  # moves stream time past the timer
        wait_for(lambda: committed(broker, name, source, 1).get(0) == 2, 90, "the second record to be committed")
    finally:
        assert running.stop() == 0
        if running is not first:
            first.kill()
    fired = [json.loads(m.value()) for m in read_all(broker, sink)]
    assert fired == [{"key": "k", "when": 11_000, "kind": "event", "seen": 1000}], running.log()[-3000:]
    if lose_state:
        assert "restored" in running.log()


def test_the_worker_loop_runs_ticks_and_idle_advance(broker: str, tmp_path: Path) -> None:
    """No input after the first record: the tick bolt reports on its own, and idle advance moves stream time
    past the reminder's time, which then fires."""
    name = unique("idle")
    source, sink = f"{name}-in", f"{name}-out"
    target = tmp_path / "target.py"
    target.write_text(TARGET.format(name=name, source=source, sink=sink, delay=2000))
    create_topic(broker, source, 1)
    send(broker, source, "k", 1000)  # due at stream time 3000: 2 s of idle advance after the record
    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log", "--idle-advance", "1")
    try:
        wait_for(lambda: read_all(broker, sink), 90, "the reminder to fire with no further input")
        ticks = TopicTail(broker, f"{sink}-ticks")  # written to all the time: read_all would not reach its end
        try:
            wait_for(lambda: [ticks.poll(), len(ticks.records) >= 3][-1], 60, "three ticks")
            assert all(json.loads(m.value()) == {"tick": True} for m in ticks.records)
        finally:
            ticks.close()
    finally:
        assert running.stop() == 0
    fired = [json.loads(m.value()) for m in read_all(broker, sink)]
    assert fired == [{"key": "k", "when": 3000, "kind": "event", "seen": 1000}]
