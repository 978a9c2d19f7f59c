"""Cooperative-sticky assignment: a joining worker takes partitions without the others giving up theirs."""

from __future__ import annotations

import re

import pytest

from tests.support.kafka import RunningTopology, wait_for
from tests.support.wordcount import MakeRun

pytestmark = pytest.mark.integration


def _revoked(log: str) -> list[str]:
    return [p for line in re.findall(r"revoked (.*)", log) for p in line.split(", ") if p != "nothing"]


def test_a_joining_worker_moves_only_the_partitions_it_takes(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount(partitions=4)
    wc.feed(1500, seed=51)
    a = RunningTopology(wc.target, broker, wc.state_dir, wc.tmp_path / "a.log", "--assignor", "cooperative-sticky")
    b: RunningTopology | None = None
    try:
        wc.wait_exact(a)
        assert _revoked(a.log()) == []
        b = RunningTopology(wc.target, broker, wc.state_dir, wc.tmp_path / "b.log", "--assignor", "cooperative-sticky")
        wait_for(lambda: "ready: processing" in b.log(), 90, "the second worker to take partitions")  # type: ignore[union-attr]
        taken = re.findall(r"assigned (.*)", b.log())[0].split(", ")
        # A gave up exactly what B took, and nothing else (eager would revoke all 8 of A's partitions).
        wait_for(lambda: sorted(_revoked(a.log())) == sorted(taken), 30, "A's revocations to match B's assignment")
        assert 0 < len(taken) < 8
        wc.feed(1500, seed=52)
        wc.wait_exact(a)
    finally:
        codes = [a.stop(), *([] if b is None else [b.stop()])]  # both stopped before either is judged
        assert codes == [0] * len(codes), codes
    # On Apache Kafka the second round of the incremental rebalance often refuses a periodic commit of A's
    # (ILLEGAL_GENERATION): A keeps its partitions and commits at the next checkpoint, it does not restart.
    assert "exited with" not in a.log(), a.log()[-3000:]
