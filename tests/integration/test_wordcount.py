"""The word count against a real broker, real RocksDB and real worker processes."""

from __future__ import annotations

import os
import re
import shutil
import signal

import pytest

from tests.support.kafka import committed, produce, read_all, wait_for
from tests.support.wordcount import MakeRun

pytestmark = pytest.mark.integration


def test_counts_are_exact(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount()
    wc.feed(3000, seed=1)
    running = wc.start()
    try:
        outputs = wc.wait_exact(running)
        assert outputs == sum(wc.expected.values())  # one output per word occurrence
    finally:
        assert running.stop() == 0
    log = running.log()
    assert "checkpoint:" in log and "stopped" in log


def test_graceful_restart_continues_exactly(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount()
    wc.feed(2000, seed=2)
    wc.run_until_exact()

    wc.feed(1500, seed=3)
    second = wc.start()
    try:
        outputs = wc.wait_exact(second)
        # The graceful stop committed everything it had emitted, so nothing was processed twice.
        assert outputs == sum(wc.expected.values())
    finally:
        assert second.stop() == 0


def test_lost_state_directory_is_restored_from_the_changelog(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount()
    wc.feed(2000, seed=4)
    wc.run_until_exact()

    shutil.rmtree(wc.state_dir)
    wc.feed(1000, seed=5)
    second = wc.start()
    try:
        wc.wait_exact(second)
    finally:
        assert second.stop() == 0
    assert "restored" in second.log()
    applied = [int(line.split(": ")[-1].split()[0]) for line in second.log().splitlines()
               if "restored" in line and "records applied" in line]
    assert sum(applied) > 0, "the counts must come back from the changelog, not from reprocessing"


def test_two_workers_share_the_partitions(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount()
    wc.feed(4000, seed=6)
    running = wc.start("--workers", "2")
    try:
        wc.wait_exact(running)
        wait_for(lambda: all(f"[worker-{i}]" in line and "ready" in line
                             for i in (0, 1) for line in [_last_ready(running.log(), i)]),
                 30, "both workers to own partitions")
    finally:
        assert running.stop() == 0


def _last_ready(log: str, worker: int) -> str:
    lines = [line for line in log.splitlines() if f"[worker-{worker}]" in line and "ready: processing" in line]
    return lines[-1] if lines else ""


def test_poison_message_goes_to_the_dlq(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount(partitions=1)
    wc.feed(500, seed=7)
    poison = b"\xff\xfe not utf-8"
    produce(broker, wc.source, [poison], partition=0)
    wc.feed(500, seed=8)
    running = wc.start("--on-error", "dlq")
    try:
        wc.wait_exact(running)
    finally:
        assert running.stop() == 0
    dead = read_all(broker, f"{wc.name}-dlq")
    assert len(dead) == 1
    headers = dict(dead[0].headers())
    assert dead[0].value() == poison
    assert headers["streamproc.source.topic"] == wc.source.encode()
    assert headers["streamproc.source.partition"] == b"0"
    assert headers["streamproc.source.offset"] == b"500"
    assert headers["streamproc.component"] == b"sentences"
    assert b"utf-8" in headers["streamproc.error"].lower()


def test_fail_policy_stops_without_committing_the_poison_message(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount(partitions=1)
    wc.feed(200, seed=9)
    produce(broker, wc.source, [b"\xff bad"], partition=0)
    wc.feed(200, seed=10)
    running = wc.start()  # --on-error fail is the default
    code = running.wait(60)
    assert code == 3, running.log()[-3000:]
    assert "stopping without committing it" in running.log()
    offsets = committed(broker, wc.name, wc.source, 1)
    assert offsets.get(0, 0) <= 200, f"committed past the poison message at offset 200: {offsets}"


def test_sigkill_of_a_worker_keeps_counts_exact(wordcount: MakeRun, broker: str) -> None:
    """A worker killed before it commits replays its input; the records that replay writes to the
    repartition topic a second time must not be counted twice (outputs may repeat, counts may not drift).

    Checkpoints are a minute apart, so worker 0 has committed nothing when it is killed: everything its
    split wrote is written again after the restart. Worker 1 commits its counts on the revoke that the
    kill causes, so the copies meet committed marks there, and uncommitted ones on worker 0's side."""
    wc = wordcount()
    running = wc.start("--workers", "2", "--commit-interval", "60")
    try:
        # Fed only once both own partitions: a worker that joins after the other took everything makes it
        # checkpoint on the revoke (Apache Kafka's joins are that quick), which must come before any input.
        wait_for(lambda: _last_ready(running.log(), 0) and _last_ready(running.log(), 1), 90,
                 "both workers to own partitions")
        fed_at = len(running.log())
        wc.feed(4000, seed=11)
        total = sum(wc.expected.values())
        try:
            wait_for(lambda: wc.latest_counts()[1] >= total, 120, "every occurrence to have an output")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {wc.latest_counts()[1]} of {total}\n{running.log()[-6000:]}") from None
        assert "checkpoint:" not in running.log()[fed_at:], "nothing may be committed before the kill"
        pid = int(re.findall(r"started worker 0 \(pid (\d+)\)", running.log())[-1])
        os.kill(pid, signal.SIGKILL)  # no final checkpoint; the supervisor restarts it
        wc.feed(1000, seed=12)
        outputs = wc.wait_exact(running, timeout=180)
    finally:
        assert running.stop() == 0
    assert "worker 0 exited with -9; restarting" in running.log()
    assert outputs > sum(wc.expected.values())  # at-least-once: worker 0's replay repeated outputs
    skipped = sum(int(n) for n in re.findall(r"(\d+) replayed records skipped", running.log()))
    assert skipped > 0, "the restart should have met records the killed worker's split wrote twice"
