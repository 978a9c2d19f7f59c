"""Changelogs compacted by Apache Kafka's log cleaner while the topology runs: a worker that lost its state
restores exactly from what compaction left, and a standby copy tails it exactly.

The changelog is created before the worker starts (a worker keeps an existing changelog as it is) with
settings that make the cleaner compact it within seconds (apache_kafka.COMPACT_FAST). A compacted
partition has gaps in its offsets; reading it must step over them once, not read them again (the
offset-gap check of streamproc.kafka.continuity is for internal topics only)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tests.support.apache_kafka import COMPACT_FAST
from tests.support.kafka import unique, wait_for
from tests.support.wordcount import MakeRun, WordCountRun

pytestmark = [pytest.mark.integration,
              pytest.mark.broker("kafka", reason="Tansu never compacts or deletes anything")]

PARTITIONS = 2


def changelog_records(bootstrap: str, topic: str, partitions: int) -> tuple[list[Any], int]:
    """(every record now in ``topic``, the sum of its partitions' end offsets), read plainly from the start."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("compacted"),
                         "enable.partition.eof": True, "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        records: list[Any] = []
        at_end: set[int] = set()
        while len(at_end) < partitions:
            for msg in consumer.consume(1000, 1.0):
                if msg.error() is None:
                    records.append(msg)
                elif msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                else:
                    raise AssertionError(msg.error())
        ends = sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions))
        return records, ends
    finally:
        consumer.close()


def compacting_changelog(wc: WordCountRun) -> str:
    changelog = f"{wc.name}-counts-changelog"
    admin = AdminClient({"bootstrap.servers": wc.bootstrap})
    admin.create_topics([NewTopic(changelog, PARTITIONS, 1, config={"cleanup.policy": "compact", **COMPACT_FAST})]
                        )[changelog].result()
    return changelog


def feed_until_compacted(wc: WordCountRun, running: Any, changelog: str) -> tuple[int, int]:
    """Feed rounds (each counted exactly before the next) until the cleaner has dropped at least half of
    the changelog's records; returns (records left, offsets written)."""
    seed = 300

    def compacted() -> tuple[int, int] | None:
        nonlocal seed
        seed += 1
        wc.feed(200, seed=seed)
        wc.wait_exact(running)
        records, ends = changelog_records(wc.bootstrap, changelog, PARTITIONS)
        return (len(records), ends) if len(records) * 2 < ends else None

    result: tuple[int, int] = wait_for(compacted, 120, "the log cleaner to compact the changelog", interval=0.5)
    return result


def test_a_lost_store_restores_exactly_from_the_changelog_compacted_while_it_ran(wordcount: MakeRun) -> None:
    wc = wordcount(partitions=PARTITIONS)
    changelog = compacting_changelog(wc)
    running = wc.start("--commit-interval", "0.2")
    try:
        left, written = feed_until_compacted(wc, running, changelog)
    finally:
        assert running.stop() == 0

    shutil.rmtree(wc.state_dir)  # the disk is lost: only the compacted changelog has the counts
    wc.feed(200, seed=400)
    running = wc.start()
    try:
        wc.wait_exact(running)
    finally:
        assert running.stop() == 0
    log = running.log()
    applied = sum(int(n) for n in re.findall(rf"restored {re.escape(changelog)}\[\d\]: (\d+) records applied", log))
    assert 0 < applied <= left < written, (applied, left, written)
    # Gaps from compaction are stepped over once: each partition's restore read once from offset 0.
    assert len(re.findall(rf"restoring {re.escape(changelog)}\[\d\] from offset 0 ", log)) == PARTITIONS, log[-3000:]
    assert "reading them again" not in log and "exited with" not in log, log[-3000:]


def test_a_standby_tails_a_compacted_changelog_and_takes_over_exactly(wordcount: MakeRun, tmp_path: Path) -> None:
    """Two members with a standby copy each of the other's stores; one member is killed after the
    changelog was compacted, and the other takes its partitions over from its standby copy."""
    wc = wordcount(partitions=PARTITIONS)
    changelog = compacting_changelog(wc)
    wc.state_dir = tmp_path / "state-a"
    a = wc.start("--commit-interval", "0.2", "--standby-replicas", "1")
    wc.state_dir = tmp_path / "state-b"
    b = wc.start("--commit-interval", "0.2", "--standby-replicas", "1")
    try:
        wait_for(lambda: "ready: processing" in a.log() and "ready: processing" in b.log(), 90, "both members")
        feed_until_compacted(wc, a, changelog)
        killed_at = len(b.log())
        a.kill()
        wc.feed(300, seed=500)
        wc.wait_exact(b, timeout=120)
    finally:
        a.kill()
        assert b.stop() == 0
    log = b.log()
    assert "standby replicas: counts[" in log[:killed_at], log[-3000:]
    # The partition taken over restores from where its standby copy had got to, not from the start.
    taken_over = re.findall(rf"restoring {re.escape(changelog)}\[\d\] from offset (\d+) ", log[killed_at:])
    assert taken_over and all(int(offset) > 0 for offset in taken_over), log[killed_at:][-3000:]
    assert "reading them again" not in log and "exited with" not in log, log[-3000:]
