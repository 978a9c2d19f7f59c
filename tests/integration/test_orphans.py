"""Workers and the embedded broker stop when the supervisor dies, even by SIGKILL; SIGHUP is a graceful stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kafka import REPO, RunningTopology, wait_for
from tests.support.wordcount import MakeRun, write_target

pytestmark = pytest.mark.integration


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def test_sigkill_of_the_supervisor_stops_its_workers_and_embedded_broker(tmp_path: Path) -> None:
    target = tmp_path / "target.py"
    write_target(target, "orphans", "orphans-in", "orphans-out")
    log_path = tmp_path / "run.log"
    with open(log_path, "ab") as log:
        # No --bootstrap-servers: run starts the embedded broker itself. A long commit interval: the worker's own
        # check of its parent at checkpoints would not come for ten minutes.
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "streamproc.cli.main", "run", str(target), "--state-dir", str(tmp_path / "state"),
             "--workers", "2", "--commit-interval", "600", "-X", "session.timeout.ms=6000",
             "-X", "heartbeat.interval.ms=1000"],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
    kids: set[int] = set()
    try:
        wait_for(lambda: "assigned" in log_path.read_text(), 60, "a worker to be assigned partitions")
        kids = children(supervisor.pid)
        assert len(kids) >= 3  # the broker and two workers (and maybe multiprocessing's resource tracker)
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait(10)
        wait_for(lambda: not any(alive(pid) for pid in kids), 60, "the orphaned processes to stop")
        text = log_path.read_text()
        assert "[worker-0] streamproc.runtime.process: received SIGTERM" in text
        assert "[worker-1] streamproc.runtime.process: received SIGTERM" in text
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait(10)
        for pid in kids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sighup_is_a_graceful_stop(wordcount: MakeRun) -> None:
    wc = wordcount()
    wc.feed(50, seed=31)
    running: RunningTopology = wc.start()
    wc.wait_exact(running)
    running.process.send_signal(signal.SIGHUP)
    assert running.wait(60) == 0
    log = running.log()
    assert "received SIGHUP: stopping 1 workers gracefully" in log
    assert "stopped gracefully in" in log
