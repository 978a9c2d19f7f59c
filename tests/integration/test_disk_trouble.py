"""Disk trouble while the workers are stopped: every damaged store partition is detected, logged and
rebuilt from its changelog, the counts stay exact, and there is no crash loop.

Opening a store detects a deleted directory, a broken CURRENT or MANIFEST and truncated files, and
rebuilds without the worker ever exiting. Garbage inside an SST data block is found only when a read
reaches it: the worker then discards the directory and restarts once to rebuild it."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.chaos.truth import verify_store
from tests.support.kafka import create_topic, wait_for
from tests.support.wordcount import MakeRun

pytestmark = pytest.mark.integration


def _largest(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern), key=lambda p: p.stat().st_size)
    assert found, f"no {pattern} in {directory}: {sorted(p.name for p in directory.iterdir())}"
    return found[-1]


def _overwrite(path: Path, at: int, garbage: bytes = b"\xde\xad\xbe\xef" * 8) -> None:
    with path.open("r+b") as file:
        file.seek(at)
        file.write(garbage)


def delete_directory(store: Path) -> None:
    shutil.rmtree(store)


def truncate_sst(store: Path) -> None:
    sst = _largest(store, "*.sst")
    with sst.open("r+b") as file:
        file.truncate(sst.stat().st_size // 2)


def garbage_in_sst_data(store: Path) -> None:
    """Inside the first data block: opening the database does not read it, only a lookup does."""
    _overwrite(_largest(store, "*.sst"), 16)


def garbage_manifest(store: Path) -> None:
    _overwrite(_largest(store, "MANIFEST-*"), 0)


def garbage_current(store: Path) -> None:
    (store / "CURRENT").write_bytes(b"\x00garbage\xff\n")


def truncate_everything(store: Path) -> None:
    for path in store.iterdir():
        if path.is_file() and path.name != "LOCK":
            path.write_bytes(b"")


DAMAGE: list[Callable[[Path], None]] = [delete_directory, truncate_sst, garbage_in_sst_data, garbage_manifest,
                                        garbage_current, truncate_everything]


def _rebuilt(log: str, changelog: str, partition: int) -> bool:
    """Restored from the changelog's start. Not "records applied > 0": a restore cut short by the worker's
    exit (the SST garbage found in another partition meanwhile) goes on after the restart from where it
    got, so its records may all have been applied before any "restored" line."""
    return f"restoring {changelog}[{partition}] from offset 0 " in log


def test_damaged_store_partitions_are_rebuilt_from_the_changelog(wordcount: MakeRun) -> None:
    """Six partitions, each store partition damaged a different way while stopped."""
    wc = wordcount(partitions=len(DAMAGE))
    wc.feed(3000, seed=41)
    wc.run_until_exact()
    stores = wc.state_dir / wc.name / "counts"
    for partition, damage in enumerate(DAMAGE):
        damage(stores / str(partition))

    wc.feed(1000, seed=42)
    running = wc.start()
    try:
        wc.wait_exact(running)
    finally:
        code = running.stop()
    log = running.log()
    assert code == 0, log[-3000:]
    assert log.count("exited with") <= 1, f"a crash loop:\n{log[-3000:]}"
    changelog = f"{wc.name}-counts-changelog"
    for partition, damage in enumerate(DAMAGE):
        assert _rebuilt(log, changelog, partition), f"{damage.__name__}: not rebuilt from the changelog"
        path = re.escape(str(stores / str(partition)))
        if damage is garbage_in_sst_data:
            assert re.search(rf"state directory {path} is damaged .*; discarded it, restarting", log), log[-3000:]
            assert "worker 0 exited with 4; restarting" in log
        elif damage is not delete_directory:
            assert re.search(rf"state directory {path} is unreadable", log), (
                f"{damage.__name__}: the damage was not reported\n{log[-3000:]}")


def test_a_recreated_changelog_discards_local_state(wordcount: MakeRun, broker: str) -> None:
    """The changelog deleted and created again while the worker was stopped (what `replay --reset-state`
    does): the local store sits at an offset beyond the changelog's end, so it matches no changelog any
    more; it is discarded with a warning rather than trusted or crashed on.

    What "exact" means then: the changelog is the state's source of truth and it now starts empty, while
    the group's committed offsets survived. So the inputs before them are not processed again, and the
    counts start from zero: the next run must emit, and store, the counts of the new input alone."""
    wc = wordcount(partitions=2)
    wc.feed(1000, seed=43)
    wc.run_until_exact()
    changelog = f"{wc.name}-counts-changelog"
    admin = AdminClient({"bootstrap.servers": broker})
    admin.delete_topics([changelog])[changelog].result()
    wait_for(lambda: changelog not in admin.list_topics(timeout=5).topics, 10, "the changelog to be deleted")
    create_topic(broker, changelog, 2)

    _, seen = wc.latest_counts()
    wc.expected.clear()
    wc.feed(500, seed=44)
    running = wc.start()
    try:
        wait_for(lambda: wc.latest_counts()[1] - seen >= sum(wc.expected.values()), 90, "outputs for the new input")
    finally:
        code = running.stop()
    log = running.log()
    assert code == 0, log[-3000:]
    assert "the changelog was deleted or recreated" in log and "discarding the local copy" in log, log[-3000:]
    assert "exited with" not in log
    assert wc._tail is not None
    latest: dict[str, int] = {}
    for record in wc._tail.records[seen:]:
        value = json.loads(record.value())
        latest[value["word"]] = max(latest.get(value["word"], 0), value["count"])
    assert latest == dict(wc.expected)
    assert verify_store(broker, changelog, wc.expected) == {}
