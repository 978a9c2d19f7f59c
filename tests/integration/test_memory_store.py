"""A memory store (Store(..., backend="memory")) in real worker processes: exact after a SIGKILL, restored
from its changelog at every start, nothing on disk, and readable with `streamproc state`."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from tests.support.cli import run_cli
from tests.support.kafka import committed, wait_for
from tests.support.wordcount import MakeRun

pytestmark = pytest.mark.integration


def test_a_memory_store_is_exact_after_sigkill_and_readable_from_its_changelog(
        wordcount: MakeRun, broker: str, capsys: pytest.CaptureFixture[str]) -> None:
    wc = wordcount(partitions=2, backend="memory")
    wc.feed(1500, seed=51)
    changelog = f"{wc.name}-counts-changelog"
    repartition = f"{wc.name}-count-repartition"
    running = wc.start("--commit-interval", "0.5")
    try:
        wc.wait_exact(running)
        wait_for(lambda: sum(committed(broker, wc.name, repartition, 2).values()) > 0, 60,
                 "the counting tasks to checkpoint")
        pid = int(re.findall(r"started worker 0 \(pid (\d+)\)", running.log())[-1])
        os.kill(pid, signal.SIGKILL)  # the memory copy dies with the process; the changelog has the state
        wc.feed(700, seed=52)
        wc.wait_exact(running, timeout=180)
        wait_for(lambda: len(re.findall(r"started worker 0", running.log())) == 2, 30, "the restart")
    finally:
        assert running.stop() == 0
    log = running.log()
    assert "worker 0 exited with -9; restarting" in log
    after_kill = log.split("worker 0 exited with -9")[1]
    # A memory store has no local copy: every start restores it from the changelog's first offset.
    assert re.findall(rf"restoring {re.escape(changelog)}\[\d\] from offset 0 \(end offset [1-9]", after_kill), \
        after_kill[-3000:]
    assert not (wc.state_dir / wc.name / "counts").exists(), "a memory store writes no state directory"

    base = wc.cli_args()
    dumped = run_cli(capsys, "state", "dump", *base, "counts", "--format", "json")
    assert dumped.code == 0, dumped.err
    assert {e["key"]: e["value"] for e in map(json.loads, dumped.out.splitlines())} == dict(wc.expected)
    word, count = wc.expected.most_common(1)[0]
    got = run_cli(capsys, "state", "get", *base, "counts", word, "--json")
    assert got.code == 0 and json.loads(got.out)["value"] == count, got.err
    refused = run_cli(capsys, "state", "rebuild", *base, "--store", "counts")
    assert refused.code == 2 and "keeps its state in memory" in refused.err
    without_broker = run_cli(capsys, "state", "dump", str(wc.target), "--state-dir", str(wc.state_dir), "counts")
    assert without_broker.code == 2 and "needs a broker" in without_broker.err
