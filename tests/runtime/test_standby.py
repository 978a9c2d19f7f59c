"""Standby replicas: which partitions a worker keeps warm, and a takeover that restores only the tail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, cast

import pytest

from streamproc import Bolt, KafkaSpout, Topology, Tuple
from streamproc.names import Names
from streamproc.runtime.standby import StandbyKeeper, neighbours
from streamproc.state.reader import StoreReader
from streamproc.state.store import Store
from tests.support.kafka import RunningTopology, committed, read_all, wait_for
from tests.support.wordcount import MakeRun


def test_neighbours_wrap_around_and_leave_out_owned_partitions() -> None:
    assert neighbours({0, 1}, 4, 1) == {2, 3}
    assert neighbours({2, 3}, 6, 1) == {1, 4}
    assert neighbours({0}, 6, 2) == {1, 2, 4, 5}
    assert neighbours({0, 1}, 2, 1) == set()  # owns everything
    assert neighbours({0}, 3, 5) == {1, 2}


@pytest.mark.integration
def test_a_takeover_restores_only_the_tail_from_a_standby(wordcount: MakeRun, broker: str) -> None:
    """Two "hosts" (separate state directories) with one standby replica each; one is killed."""
    wc = wordcount(partitions=2)
    wc.feed(2000, seed=41)
    host_a, host_b = wc.tmp_path / "host-a", wc.tmp_path / "host-b"
    a = RunningTopology(wc.target, broker, host_a, wc.tmp_path / "a.log", "--standby-replicas", "1")
    wait_for(lambda: "ready: processing" in a.log(), 60, "host A to process")
    b = RunningTopology(wc.target, broker, host_b, wc.tmp_path / "b.log", "--standby-replicas", "1")
    try:
        wait_for(lambda: "ready: processing" in b.log(), 60, "host B to take a partition")
        wc.wait_exact(a)
        wait_for(lambda: sum(committed(broker, wc.name, wc.source, 2).values()) == 2000, 30, "all input committed")
        b_owns = {int(p) for p in re.findall(rf"{wc.source}\[(\d)\]", b.log().split("assigned")[-1].split("\n")[0])}
        assert len(b_owns) == 1, b.log()[-2000:]
        taken = b_owns.pop()
        changelog = f"{wc.name}-counts-changelog"
        wait_for(lambda: sum(committed(broker, wc.name, f"{wc.name}-count-repartition", 2).values()) > 0, 30,
                 "the counting tasks to commit")

        def standby_caught_up() -> bool:
            end = 1 + max((r.offset() for r in read_all(broker, changelog) if r.partition() == taken), default=-1)
            try:
                with StoreReader.local(Names(wc.name), Store("counts"), host_a, taken) as copy:
                    return end > 0 and copy.changelog_offset() >= end
            except Exception:
                return False

        wait_for(standby_caught_up, 60, f"host A's standby copy of counts[{taken}] to reach the changelog's end")
    finally:
        b.kill()
    wc.feed(500, seed=42)
    try:
        wc.wait_exact(a, timeout=120)
    finally:
        assert a.stop() == 0
    starts = re.findall(rf"restoring {re.escape(changelog)}\[{taken}\] from offset (\d+)", a.log())
    assert starts and int(starts[-1]) > 0, a.log()[-3000:]  # the standby's position, not the beginning
    restored = re.findall(rf"restored {re.escape(changelog)}\[{taken}\]: (\d+) records applied", a.log())
    assert restored and int(restored[-1]) < 200, a.log()[-3000:]  # the tail only


class TwoStores(Bolt):
    stores: ClassVar[list[Store]] = [Store("disk"), Store("hot", backend="memory")]

    def process(self, tup: Tuple) -> None:
        pass


def test_only_durable_stores_get_standby_replicas(tmp_path: Path) -> None:
    """A memory store's copy could not be handed to the task taking the partition over: it gets none."""
    topology = Topology("standby-kinds")
    topology.spout("in", KafkaSpout("in"))
    topology.bolt("both", TwoStores).shuffle("in")
    plan = topology.build()
    keeper = StandbyKeeper(plan, cast(Any, None), tmp_path, replicas=1)
    sub = plan.subtopology_of_component("both")
    changelogs = {"standby-kinds-disk-changelog": 4, "standby-kinds-hot-changelog": 4}
    assert keeper.wanted([(sub.id, 0)], changelogs) == {("disk", 1), ("disk", 3)}
