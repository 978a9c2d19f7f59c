"""The consumer group protocol of KIP-848 (-X group.protocol=consumer): the broker assigns, incrementally.
A joining worker takes partitions without the other giving up the rest, and when it leaves, the other
takes them back, restoring only the changelog's tail from its standby copies; the counts stay exact."""

from __future__ import annotations

import re

import pytest

from tests.support.kafka import RunningTopology, wait_for
from tests.support.wordcount import MakeRun

pytestmark = [pytest.mark.integration, pytest.mark.broker(
    "kafka", reason="Tansu hangs on the consumer group protocol (README: the embedded broker); Apache Kafka 4 runs it")]

#: Session and heartbeat times are the broker's under this protocol (tests/support/apache_kafka.py).
NEW_PROTOCOL = {"group.protocol": "consumer", "fetch.wait.max.ms": "100"}


def _partitions(log: str, event: str) -> list[str]:
    return [p for line in re.findall(rf"{event} (.*)", log) for p in line.split(", ") if p != "nothing"]


def test_assignment_revocation_and_standby_restore_under_the_consumer_protocol(wordcount: MakeRun,
                                                                               broker: str) -> None:
    wc = wordcount(partitions=4)
    wc.feed(1500, seed=91)
    changelog = f"{wc.name}-counts-changelog"

    def member(name: str) -> RunningTopology:
        return RunningTopology(wc.target, broker, wc.tmp_path / f"state-{name}", wc.tmp_path / f"{name}.log",
                               "--standby-replicas", "1", group=NEW_PROTOCOL)

    a = member("a")
    b: RunningTopology | None = None
    try:
        wc.wait_exact(a)
        assert _partitions(a.log(), "revoked") == []
        b = member("b")
        wait_for(lambda: "ready: processing" in b.log(), 90, "the second worker to take partitions")  # type: ignore[union-attr]
        wait_for(lambda: sorted(_partitions(a.log(), "revoked")) == sorted(_partitions(b.log(), "assigned")), 60,
                 "A to give up exactly what B takes")
        taken = _partitions(b.log(), "assigned")
        assert 0 < len(taken) < 8, taken
        wc.feed(1500, seed=92)
        wc.wait_exact(a)

        left_at = len(a.log())
        assert b.stop() == 0
        wait_for(lambda: sorted(_partitions(a.log()[left_at:], "assigned")) == sorted(taken), 60,
                 "A to take B's partitions back")
        wc.feed(500, seed=93)
        wc.wait_exact(a)
    finally:
        codes = [a.stop(), *([] if b is None else [b.stop()])]  # both stopped before either is judged
        assert codes[0] == 0, codes
    log = a.log()
    assert "exited with" not in log and "exited with" not in b.log(), log[-3000:]
    # A kept standby copies of B's stores, so taking them back restores only the tail.
    restores = re.findall(rf"restoring {re.escape(changelog)}\[\d\] from offset (\d+) ", log[left_at:])
    assert restores and all(int(offset) > 0 for offset in restores), log[left_at:][-3000:]
