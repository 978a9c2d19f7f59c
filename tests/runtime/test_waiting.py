"""A worker without partitions says so every 10 s at INFO, with the group as the broker describes it."""

from __future__ import annotations

import logging
from concurrent.futures import Future

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition
from confluent_kafka.admin import ConsumerGroupDescription, MemberAssignment, MemberDescription  # type: ignore[attr-defined]

from streamproc.runtime.settings import WorkerSettings
from streamproc.runtime.waiting import AssignmentWait, describe_group
from tests.support.kafka import create_topic, unique, wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _group(state: ConsumerGroupState, members: list[MemberDescription]) -> ConsumerGroupDescription:
    return ConsumerGroupDescription("orders", False, members, "range", state, None)


def _member(client: str, member_id: str, partitions: int) -> MemberDescription:
    assignment = MemberAssignment([TopicPartition("in", p) for p in range(partitions)])
    return MemberDescription(member_id, client, "/10.0.0.7", assignment)


def _answered(description: ConsumerGroupDescription) -> Future[ConsumerGroupDescription]:
    future: Future[ConsumerGroupDescription] = Future()
    future.set_result(description)
    return future


def test_a_line_every_interval_while_waiting_and_one_when_assigned(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    group = _group(ConsumerGroupState.PREPARING_REBALANCING,
                   [_member("orders-worker-1", "m-1", 2), _member("orders-worker-0", "m-0", 0)])
    wait = AssignmentWait("orders", lambda: _answered(group), lambda: "m-0", session_timeout_ms=45000, clock=clock)
    caplog.set_level(logging.INFO, "streamproc.runtime.worker")
    for step in range(26):  # 25 s in 1 s turns of the loop
        clock.now = 1000.0 + step
        wait.tick(False)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("still waiting for a partition assignment (10 s): group 'orders' is "
                               "PREPARING_REBALANCING with 2 members: orders-worker-0 on /10.0.0.7 (m-0; no "
                               "partitions), orders-worker-1 on /10.0.0.7 (m-1; 2 partitions); this worker is "
                               "member m-0")
    assert "until its session times out (session.timeout.ms=45000)" in lines[0]
    assert lines[1].startswith("still waiting for a partition assignment (20 s)")
    clock.now += 3
    wait.tick(True)
    assert caplog.records[-1].getMessage() == "partition assignment received after 28 s of waiting"

    caplog.clear()
    for _ in range(9):  # a new wait starts from zero: nothing before its 10th second
        clock.now += 1
        wait.tick(False)
    wait.tick(True)
    assert caplog.records == []


def test_an_assigned_worker_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    wait = AssignmentWait("orders", None, lambda: "m-0", clock=clock)
    caplog.set_level(logging.INFO)
    for _ in range(100):
        clock.now += 1
        wait.tick(True)
    assert caplog.records == []


def test_without_an_answer_the_line_still_comes(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    slow: Future[ConsumerGroupDescription] = Future()
    answers = iter([slow, _answered(_group(ConsumerGroupState.STABLE, []))])
    wait = AssignmentWait("orders", lambda: next(answers), lambda: None, clock=clock)
    caplog.set_level(logging.INFO, "streamproc.runtime.worker")
    for step in range(31):
        clock.now = 1000.0 + step
        wait.tick(False)
        if step == 25:
            slow.set_exception(RuntimeError("coordinator not available"))
    lines = [r.getMessage() for r in caplog.records]
    # 10 s: a description is asked for; 20 s: it is still pending, so a line without it; 25 s: it failed, and
    # the 10 s line comes with the reason; 30 s: a new description, answered.
    assert [line[:47] for line in lines] == ["still waiting for a partition assignment (20 s)",
                                             "still waiting for a partition assignment (10 s)",
                                             "still waiting for a partition assignment (30 s)"]
    assert "group 'orders'; this worker has no member id yet" in lines[0]
    assert lines[1].endswith("(cannot describe the group: coordinator not available)")
    assert "group 'orders' is STABLE; the broker does not report its members" in lines[2]


def test_groups_the_broker_describes_without_members() -> None:
    assert describe_group(_group(ConsumerGroupState.STABLE, [])) == (
        "group 'orders' is STABLE; the broker does not report its members")
    assert "this worker's join has not been accepted yet" in describe_group(_group(ConsumerGroupState.EMPTY, []))


@pytest.mark.integration
def test_describes_a_real_group(broker: str, caplog: pytest.LogCaptureFixture) -> None:
    """The admin client the worker's wait makes, against the broker, while another member holds the group."""
    topic, group = unique("wait-in"), unique("wait-group")
    create_topic(broker, topic, 2)
    holder = Consumer({"bootstrap.servers": broker, "group.id": group, "session.timeout.ms": 6000,
                       "heartbeat.interval.ms": 1000, "client.id": "holder"})
    holder.subscribe([topic])
    try:
        wait_for(lambda: holder.consume(1, 0.2) is not None and holder.assignment(), 30, "the holder's assignment")
        clock = Clock()
        settings = WorkerSettings(broker, group, overrides={"session.timeout.ms": "6000"})
        wait = AssignmentWait.for_worker(settings, "wait-test", holder)
        wait._clock = clock
        caplog.set_level(logging.INFO, "streamproc.runtime.worker")
        wait.tick(False)
        clock.now += 10
        wait.tick(False)
        line = wait_for(lambda: [r.getMessage() for r in caplog.records], 15, "the described group")[0]
        assert line.startswith(f"still waiting for a partition assignment (10 s): group {group!r} is STABLE")
        assert f"this worker is member {holder.memberid()}" in line
        assert "session.timeout.ms=6000" in line
    finally:
        holder.close()
