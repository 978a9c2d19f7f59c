"""Checkpoint ordering: nothing is committed unless every record was acknowledged first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError

from streamproc.errors import CheckpointError, ProducerFencedError
from streamproc.runtime.dedupe import MARKS_KEY
from streamproc.state.store import is_reserved
from streamproc.testing import TopologyTestDriver
from tests.support.bolts import wordcount


@pytest.fixture
def driver() -> Iterator[TopologyTestDriver]:
    with TopologyTestDriver(wordcount(), partitions=2) as running:
        yield running


def test_checkpoint_commits_offsets_then_writes_state(driver: TopologyTestDriver) -> None:
    driver.send("sentences", "a b a", partition=0)
    driver.checkpoint()
    assert driver.committed[("sentences", 0)] == 1
    changelog = driver.records("wc-counts-changelog")
    values = sorted((m.key(), m.value()) for m in changelog if not is_reserved(m.key()))
    assert values == [(b'\x00\x03"a"', b"2"), (b'\x00\x03"b"', b"1")]
    marks = sorted(m.value() for m in changelog if m.key() == MARKS_KEY)
    # The input message wrote records 0 ("a"), 1 ("b") and 2 ("a"); each count partition marks what it got.
    assert marks == [b'{"sentences:0":[0,1]}', b'{"sentences:0":[0,2]}']
    headers = dict(changelog[0].headers() or [])
    assert headers["streamproc.src"].startswith(b"wc-count-repartition:")
    for task in driver.tasks.values():
        for store in task.stores.values():
            assert store.dirty_count == 0


def test_failed_flush_commits_nothing_and_keeps_state_uncommitted(driver: TopologyTestDriver) -> None:
    driver.send("sentences", "a b a", partition=0)
    driver.checkpoint()
    committed_before = dict(driver.committed)
    stores = [t.stores["counts"] for t in driver.tasks.values() if "counts" in t.stores]
    store = next(s for s in stores if s.backend.get(b'\x00\x03"a"') is not None)
    driver.send("sentences", "a a", partition=0)
    driver.producer.fail_flush = True
    with pytest.raises(CheckpointError, match="not acknowledged"):
        driver.checkpoint()
    assert driver.committed == committed_before
    assert store.backend.get(b'\x00\x03"a"') == b"2"  # RocksDB still holds the last committed value
    assert store.dirty_count == 0  # the failed checkpoint's writes were discarded, to be redone


def test_delivery_error_fails_the_checkpoint(driver: TopologyTestDriver) -> None:
    driver.send("sentences", "x", partition=1)
    driver.output_.errors.append("out[0]: broker down")
    with pytest.raises(CheckpointError, match="failed to send"):
        driver.checkpoint()
    assert driver.committed == {}


def test_a_fenced_changelog_record_fails_the_checkpoint_as_fencing(driver: TopologyTestDriver) -> None:
    driver.send("sentences", "x", partition=1)
    store = next(t.stores["counts"] for t in driver.tasks.values() if "counts" in t.stores)
    store._on_delivery(KafkaError(KafkaError.PRODUCER_FENCED, "newer producer"), None)
    with pytest.raises(ProducerFencedError, match="newer producer"):
        driver.checkpoint()
    assert driver.committed == {}
    assert driver.output_.fenced, "a fenced worker must not try to abort: the broker already did"


def refused_by_a_rebalance() -> KafkaError:
    return KafkaError(KafkaError.ILLEGAL_GENERATION, "Specified group generation id is not valid")


def test_a_commit_refused_by_a_rebalance_keeps_the_state_and_commits_at_the_next_checkpoint(
    driver: TopologyTestDriver,
) -> None:
    """An incremental rebalance that races the commit is no failure: the writes are kept (stored locally, not
    discarded to be redone) and the next checkpoint commits offsets that cover them."""
    driver.send("sentences", "a b a", partition=0)
    driver.broker.refuse_commits.append(refused_by_a_rebalance())
    driver.checkpoint()
    assert driver.committed == {}
    stores = [t.stores["counts"] for t in driver.tasks.values() if "counts" in t.stores]
    assert all(store.dirty_count == 0 for store in stores)
    assert any(store.backend.get(b'\x00\x03"a"') == b"2" for store in stores)
    driver.send("sentences", "a", partition=0)
    driver.checkpoint()
    assert driver.committed[("sentences", 0)] == 2
    assert (driver.state("counts", "a"), driver.state("counts", "b")) == (3, 1)


@pytest.mark.parametrize("lose_state", [False, True])
def test_a_crash_before_the_deferred_commit_counts_each_input_once(lose_state: bool) -> None:
    """The local stores hold writes whose inputs are not committed; a crash before the next commit must not
    count those inputs twice when they are read again (recovery rebuilds a store that is ahead)."""
    with TopologyTestDriver(wordcount(), partitions=2) as driver:
        driver.send("sentences", "a b a", partition=0)
        driver.checkpoint()
        driver.send("sentences", "a c", partition=0)
        driver.broker.refuse_commits.append(refused_by_a_rebalance())
        driver.checkpoint()
        assert driver.committed[("sentences", 0)] == 1
        driver.crash(lose_state=lose_state)
        assert [driver.state("counts", w) for w in "abc"] == [3, 1, 1]
        driver.checkpoint()
        assert driver.committed[("sentences", 0)] == 2


def test_other_commit_failures_still_fail_the_checkpoint(driver: TopologyTestDriver) -> None:
    driver.send("sentences", "a", partition=0)
    driver.broker.refuse_commits.append(KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE, "coordinator moved"))
    with pytest.raises(CheckpointError, match="coordinator moved"):
        driver.checkpoint()
    assert all(t.stores["counts"].dirty_count == 0 for t in driver.tasks.values() if "counts" in t.stores)
    assert driver.state("counts", "a") is None  # discarded: redone from the committed offsets
