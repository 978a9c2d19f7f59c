"""A graceful stop (SIGTERM) with dirty state on 4 partitions: the final checkpoint commits everything,
the worker leaves the group within the shutdown timeout, and says so."""

from __future__ import annotations

import re
import signal

import pytest

from tests.chaos.truth import verify_store
from tests.support.kafka import committed, read_all, wait_for
from tests.support.wordcount import MakeRun

pytestmark = pytest.mark.integration


def test_sigterm_checkpoints_dirty_state_and_leaves_the_group_in_time(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount(partitions=4)
    wc.feed(3000, seed=51)
    running = wc.start("--commit-interval", "600")  # no checkpoint before the stop: all state is dirty
    try:
        wc.wait_exact(running)
        assert "checkpoint:" not in running.log()
    finally:
        code = running.stop()
    log = running.log()
    assert code == 0, log[-3000:]
    assert re.search(r"stopped gracefully in [\d.]+ s \(final checkpoint committed, left the group; "
                     r"shutdown timeout 30 s\)", log), log[-3000:]
    # The final checkpoint committed every input and wrote every count to the changelog ...
    assert committed(broker, wc.name, wc.source, 4) == _ends(broker, wc.source)
    assert verify_store(broker, f"{wc.name}-counts-changelog", wc.expected) == {}
    # ... and the worker left the group (closing the consumer revokes its partitions and sends LeaveGroup)
    # rather than letting its session expire. Tansu cannot confirm it from outside: DescribeGroups hangs
    # and DeleteGroups deletes a group with members.
    signal_at, revoked_at, stopped_at = (log.index("received SIGTERM: stopping after a final checkpoint"),
                                         log.rindex("] streamproc.runtime.worker: revoked "),
                                         log.index("stopped gracefully in"))
    assert signal_at < revoked_at < stopped_at


def _ends(broker: str, topic: str) -> dict[int, int]:
    """The offset after the last record of each partition, from reading them all."""
    ends: dict[int, int] = {}
    for record in read_all(broker, topic):
        ends[record.partition()] = max(ends.get(record.partition(), 0), record.offset() + 1)
    return ends


def test_a_stop_while_a_worker_process_starts_is_graceful(wordcount: MakeRun) -> None:
    """SIGTERM right after the supervisor spawned a worker reaches the worker while its interpreter starts, before
    any handler of streamproc's is installed. Such a worker has done nothing, so the stop is graceful (exit 0),
    and a worker that got it while loading the topology stops once it runs (found in the outage test, where a
    restarted worker was stopped within half a second of its start)."""
    wc = wordcount(partitions=1)
    running = wc.start()
    try:
        wait_for(lambda: "started worker 0" in running.log(), 30, "the worker to be spawned", interval=0.005)
        running.process.send_signal(signal.SIGTERM)
        code = running.wait(60)
    finally:
        running.kill()
    log = running.log()
    assert code == 0, log[-3000:]
    assert "did not stop gracefully" not in log
    assert "was stopped while its process started" in log or "stopped gracefully in" in log, log[-3000:]
