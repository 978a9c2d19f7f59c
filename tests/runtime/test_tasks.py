"""TaskManager: the states a task goes through, and the test driver running the worker's own path over it
(dispatch with its offset-gap re-read, restore from the changelog after a crash)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streamproc.kafka.memory import MemoryBroker, MemoryConsumer, MemoryProducer
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy
from streamproc.runtime.tasks import TaskManager, TaskState
from streamproc.state.recovery import ChangelogRestorer
from streamproc.testing import TopologyTestDriver
from tests.support.bolts import wordcount


def test_a_task_restores_runs_and_closes(tmp_path: Path) -> None:
    plan = wordcount().build()
    partitions = plan.resolve_partitions({"sentences": 1})
    broker = MemoryBroker()
    broker.append("wc-counts-changelog", 0, b"\x00\x01a", b"5", None, 1)  # a committed count to restore
    output = Output(MemoryProducer(broker))
    manager = TaskManager(plan, partitions, output, ErrorPolicy("fail", "wc", output), tmp_path,
                          ChangelogRestorer(MemoryConsumer(broker, partition_eof=True)))
    count_topic = "wc-count-repartition"
    ready = manager.assign([("sentences", 0), (count_topic, 0)], {})
    split, count = manager.key_of("sentences", 0), manager.key_of(count_topic, 0)
    assert ready == [("sentences", 0)]  # no state: at once
    assert (manager.state(split), manager.state(count)) == (TaskState.RUNNING, TaskState.RESTORING)
    assert list(manager.readers) == [("sentences", 0)]
    assert manager.counts() == (1, 2)
    while manager.restoring:
        ready = manager.restore_step(0)
    assert ready == [(count_topic, 0)]
    assert manager.state(count) is TaskState.RUNNING
    assert [t.id for t in manager.running()] == [f"{split[0]}_0", f"{count[0]}_0"]
    restored = manager.running()[1].stores["counts"]
    assert restored.get(b"\x00\x01a") == 5
    manager.revoke([(count_topic, 0)])
    assert manager.state(count) is TaskState.CLOSED
    assert list(manager.readers) == [("sentences", 0)]
    manager.close()
    assert manager.tasks() == [] and manager.readers == {}


def test_the_driver_reads_a_fetch_gap_again_through_the_dispatch_loop(caplog: pytest.LogCaptureFixture) -> None:
    """As the embedded broker sometimes does, a fetch skips a record of the repartition topic; the driver's
    dispatch loop is the worker's, so the record is read again rather than lost."""
    with TopologyTestDriver(wordcount()) as driver:
        driver.send("sentences", "a b")
        end = len(driver.records("wc-count-repartition"))
        driver.broker.hide_once("wc-count-repartition", 0, [end])  # the first of the next records
        with caplog.at_level(logging.INFO, logger="streamproc.kafka.continuity"):
            driver.send("sentences", "a c")
        assert f"offsets {end} to {end} missing from a fetch; reading them again" in caplog.text
        assert (driver.state("counts", "a"), driver.state("counts", "b"), driver.state("counts", "c")) == (2, 1, 1)


@pytest.mark.parametrize("lose_state", [False, True], ids=["local-state-kept", "local-state-lost"])
def test_a_crash_redoes_uncommitted_work_and_restores_exact_state(lose_state: bool) -> None:
    with TopologyTestDriver(wordcount(), partitions=2) as driver:
        for sentence in ["a b", "a c", "b b"]:
            driver.send("sentences", sentence)
        driver.checkpoint()
        for sentence in ["a d", "c c c"]:
            driver.send("sentences", sentence)  # processed, never committed
        outputs_before = len(driver.output("out"))
        driver.crash(lose_state=lose_state)
        truth = {"a": 3, "b": 3, "c": 4, "d": 1}
        assert {w: driver.state("counts", w) for w in truth} == truth
        # The uncommitted inputs were processed again: their outputs are written twice (at-least-once).
        assert len(driver.output("out")) == outputs_before + 5
        driver.checkpoint()
        driver.crash(lose_state=True)
        assert {w: driver.state("counts", w) for w in truth} == truth
