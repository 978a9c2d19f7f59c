"""Named streams with real workers: a misspelled subscription stops `run` before any worker starts, and an
emit on an undeclared stream is an error the policy handles (here: a dead letter naming the bolt), not a drop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.kafka import RunningTopology, create_topic, produce, read_all, unique, wait_for

pytestmark = pytest.mark.integration

ORDERS = '''
from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, StrSerde, Topology


class PerCustomer(Bolt):
    streams = ("alerts",)

    def process(self, tup):
        self.emit(tup.value)
        if tup.value["amount"] > 100:
            self.emit(tup.value, stream=ALERT_STREAM)


topology = Topology(NAME)
topology.spout("in", KafkaSpout(SOURCE, value_serde=JsonSerde()))
topology.bolt("per_customer", PerCustomer).shuffle("in")
topology.bolt("totals", KafkaSink(SINK)).shuffle("per_customer")
topology.bolt("alerts", KafkaSink(ALERTS)).shuffle(("per_customer", SUBSCRIBED))
'''


def _target(path: Path, name: str, alert_stream: str, subscribed: str) -> Path:
    path.write_text(f"NAME, SOURCE, SINK, ALERTS = {name!r}, {name + '-in'!r}, {name + '-out'!r}, "
                    f"{name + '-alerts'!r}\nALERT_STREAM, SUBSCRIBED = {alert_stream!r}, {subscribed!r}\n" + ORDERS)
    return path


def test_a_misspelled_subscription_stops_run_before_any_worker(broker: str, tmp_path: Path) -> None:
    name = unique("streams")
    target = _target(tmp_path / "t.py", name, "alerts", "alertz")
    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log")
    assert running.wait(60) == 2
    assert ("bolt 'alerts' subscribes to stream 'alertz' of 'per_customer', which declares only "
            "['alerts', 'default']") in running.log()


def test_an_emit_on_an_undeclared_stream_is_dead_lettered_naming_the_bolt(broker: str, tmp_path: Path) -> None:
    name = unique("streams")
    target = _target(tmp_path / "t.py", name, "invalidd", "alerts")
    create_topic(broker, f"{name}-in", 1)
    produce(broker, f"{name}-in", [json.dumps({"amount": a}) for a in (5, 500, 7)], partition=0)
    running = RunningTopology(target, broker, tmp_path / "state", tmp_path / "run.log", "--on-error", "dlq")
    try:
        wait_for(lambda: len(read_all(broker, f"{name}-dlq")) == 1 and len(read_all(broker, f"{name}-out")) == 3,
                 60, "the dead letter and the three default-stream outputs")
    finally:
        assert running.stop() == 0
    [letter] = read_all(broker, f"{name}-dlq")
    headers = dict(letter.headers())
    assert json.loads(letter.value()) == {"amount": 500}
    assert headers["streamproc.component"] == b"per_customer"
    assert b"emitted on stream 'invalidd', which it does not declare; it declares ['alerts', 'default']" \
        in headers["streamproc.error"]
    assert read_all(broker, f"{name}-alerts") == []
