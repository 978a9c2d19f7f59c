"""The chaos scenario at CI size: 200,000 messages, 5 SIGKILLs at random and targeted moments, one state
directory deleted, one broker outage; nothing lost, every count exact (`make chaos` runs it at full size)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.brokers import ProxyCut
from tests.chaos.conftest import GUARANTEES
from tests.chaos.driver import ChaosConfig, ChaosDriver
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_chaos(proxy: TcpProxy, tmp_path: Path, guarantee: str) -> None:
    config = ChaosConfig(messages=200_000, kills=5, outage=10.0, delete_state=True, guarantee=guarantee)
    summary = ChaosDriver(ProxyCut(proxy), tmp_path, config, log=False).run()
    report = summary.render()
    print(report)
    assert summary.ok, report
    assert summary.messages == config.messages and summary.kills == config.kills, report
    assert summary.state_deletions == 1 and summary.outages == 1 and proxy.cuts >= 1, report
    assert summary.lost == 0 and not summary.keys_wrong and not summary.store_keys_wrong, report
    assert summary.outputs >= summary.words, report
    if guarantee == "exactly-once":
        assert summary.duplicates == 0 and summary.outputs == summary.words, report
    # Store partitions restored, not necessarily records: on Kafka a restore killed at the "restore" moment
    # can have applied everything before its "restored" line, and then resumes with nothing left to apply.
    assert summary.restores > 0, f"partitions moved between members, so stores must restore\n{report}"
