"""Derived names: one module, per consumer group, today's names under the default group."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.errors import ConfigError
from streamproc.names import LEASE_DIR, Names
from tests.support.bolts import wordcount


def test_default_group_keeps_the_topology_names() -> None:
    plan = wordcount().build()
    assert plan.names.app == "wc"
    assert plan.changelog_topics() == {"counts": "wc-counts-changelog"}
    assert set(plan.internal_topics) == {"wc-count-repartition"}
    assert plan.names.dlq() == "wc-dlq"
    assert plan.names.restore_group() == "wc-restore"
    assert plan.names.store_path(Path("/s"), "counts", 3) == Path("/s/wc/counts/3")


def test_another_group_gets_its_own_topics_and_state() -> None:
    plan = wordcount().build("wc-copy")
    assert plan.name == "wc"
    assert plan.changelog_topics() == {"counts": "wc-copy-counts-changelog"}
    assert set(plan.internal_topics) == {"wc-copy-count-repartition"}
    assert plan.subtopologies[1].internal_topics == ("wc-copy-count-repartition",)
    assert plan.names.dlq() == "wc-copy-dlq"
    assert plan.names.dlq_ledger() == "wc-copy-dlq-redriven"
    assert plan.names.restore_group() == "wc-copy-restore"
    assert plan.names.store_path(Path("/s"), "counts", 0) == Path("/s/wc-copy/counts/0")
    counts = plan.resolve_partitions({"sentences": 3})
    assert counts["wc-copy-counts-changelog"] == 3


@pytest.mark.parametrize("group", ["a/b", "..", ".", "a b", "", "x:y", LEASE_DIR, "g" * 181])
def test_a_group_id_that_cannot_name_topics_or_a_directory_is_refused(group: str) -> None:
    with pytest.raises(ConfigError, match="group id"):
        Names(group)
