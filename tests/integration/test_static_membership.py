"""Static membership (`--instance-id`, Kafka's group.instance.id): a worker SIGKILLed and restarted within
the session timeout takes its own partitions back, and the other worker is never revoked: no rebalance.
This is what makes rolling restarts cheap on Apache Kafka."""

from __future__ import annotations

import os
import re
import signal

import pytest

from tests.support.kafka import wait_for
from tests.support.wordcount import MakeRun

pytestmark = [pytest.mark.integration,
              pytest.mark.broker("kafka", reason="Tansu's static membership is broken (README: the embedded broker)")]


def rebalance_lines(log: str, worker: int) -> list[str]:
    return re.findall(rf"\[worker-{worker}\] streamproc\.runtime\.worker: ((?:assigned|revoked|lost) .*)", log)


def test_a_worker_back_within_the_session_timeout_takes_its_partitions_back_alone(wordcount: MakeRun) -> None:
    wc = wordcount(partitions=4)
    wc.feed(1000, seed=71)
    running = wc.start("--workers", "2", "--instance-id", "host-a", "-X", "session.timeout.ms=30000")
    try:
        wait_for(lambda: all(any(line.startswith("assigned") for line in rebalance_lines(running.log(), w))
                             for w in (0, 1)), 90, "both workers to own partitions")
        wc.wait_exact(running)
        log = running.log()
        owned = rebalance_lines(log, 0)[-1]
        assert owned.startswith("assigned"), rebalance_lines(log, 0)
        pid = int(re.findall(r"started worker 0 \(pid (\d+)\)", log)[-1])
        mark = len(log)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: rebalance_lines(running.log()[mark:], 0), 60, "the restarted worker 0 to be assigned")
        wc.feed(1000, seed=72)
        wc.wait_exact(running)
        after = running.log()[mark:]
    finally:
        assert running.stop() == 0
    assert "worker 0 exited with -9; restarting" in after
    assert rebalance_lines(after, 0) == [owned], "worker 0 must get back exactly what it had"
    assert rebalance_lines(after, 1) == [], "worker 1 must not notice: no rebalance"
