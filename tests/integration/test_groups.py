"""Two consumer groups running one topology are two applications: neither touches the other's state."""

from __future__ import annotations

import shutil

import pytest

from tests.support.kafka import committed, read_all, wait_for
from tests.support.wordcount import MakeRun

pytestmark = pytest.mark.integration


def test_a_second_group_keeps_its_own_changelog_and_state_dir(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount()
    wc.feed(300, seed=21)
    wc.run_until_exact()
    changelog = f"{wc.name}-counts-changelog"
    written = len(read_all(broker, changelog))
    assert written > 0

    copy = f"{wc.name}-copy"  # same topology, same --state-dir, another group: counts everything again
    second = wc.start("--group-id", copy)
    try:
        wait_for(lambda: sum(committed(broker, copy, wc.source, 4).values()) == 300, 90,
                 f"group {copy} to commit every input")
    finally:
        assert second.stop() == 0
    assert len(read_all(broker, changelog)) == written, "the second group wrote into the first group's changelog"
    assert read_all(broker, f"{copy}-counts-changelog")
    assert (wc.state_dir / wc.name / "counts").is_dir() and (wc.state_dir / copy / "counts").is_dir()

    # The first group, restored from its changelog alone on a fresh state dir, is still exact.
    shutil.rmtree(wc.state_dir)
    wc.feed(100, seed=22)
    third = wc.start()
    try:
        wc.wait_exact(third)
    finally:
        assert third.stop() == 0
