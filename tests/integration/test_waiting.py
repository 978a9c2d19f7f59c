"""Real worker processes: a title naming topology and worker in `ps`, and a worker that waits for its
partitions behind a member that was killed says so at INFO until it has them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.kafka import wait_for
from tests.support.wordcount import MakeRun

pytestmark = pytest.mark.integration

#: A member of the group that is SIGKILLed once it has its partitions: it never leaves, so the group waits
#: for its session (30 s) to expire before the worker started after it gets partitions.
STALE_MEMBER = """
import sys
from confluent_kafka import Consumer
bootstrap, group, topic = sys.argv[1:]
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": 30000,
                     "heartbeat.interval.ms": 3000})
consumer.subscribe([topic])
while not consumer.assignment():
    consumer.poll(0.2)
print("assigned", flush=True)
sys.stdin.read()
"""


def _title(pid: int) -> str:
    return subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True,
                          check=False).stdout.strip()


def test_a_worker_behind_a_killed_member_says_it_waits_and_shows_its_title(wordcount: MakeRun,
                                                                              broker: str) -> None:
    wc = wordcount(partitions=2)
    stale = subprocess.Popen([sys.executable, "-c", STALE_MEMBER, broker, wc.name, wc.source],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert stale.stdout is not None
    assert stale.stdout.readline().strip() == "assigned"
    stale.kill()
    stale.wait()
    wc.feed(50, seed=8)
    running = wc.start("--workers", "2")
    try:
        for index in (0, 1):
            pid = int(wait_for(lambda i=index: re.findall(rf"started worker {i} \(pid (\d+)\)", running.log()), 30,
                               f"worker {index} to start")[0])
            wait_for(lambda p=pid, i=index: _title(p) == f"streamproc worker {i} of {wc.name}", 30,
                     f"worker {index}'s process title")
        line = wait_for(lambda: re.search(r"still waiting for a partition assignment \(1\d s\): group "
                                          rf"'{wc.name}'.*", running.log()), 60, "the waiting line")
        assert "session.timeout.ms=6000" in line.group()  # the worker's own setting, from -X
        wait_for(lambda: "partition assignment received after" in running.log(), 90, "the assignment")
        wc.wait_exact(running)
    finally:
        assert running.stop() == 0
