"""The windowed chaos scenario at CI size (its own module, so that it runs beside the word count's in another
test process): a per-minute count with final emission, 30,000 messages, 3 SIGKILLs, one state directory deleted;
every final present and exact (`python -m tests.chaos --workload windowed` runs it larger)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.brokers import ProxyCut
from tests.chaos.conftest import GUARANTEES
from tests.chaos.driver import ChaosConfig, ChaosDriver
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_windowed_chaos(proxy: TcpProxy, tmp_path: Path, guarantee: str) -> None:
    """A per-minute count with final emission, workers SIGKILLed mid-window: every final present and equal to the
    oracle's, repeats (at-least-once, after a kill) identical, late records all on the late stream."""
    config = ChaosConfig(messages=30_000, kills=3, outage=0.0, delete_state=True, guarantee=guarantee,
                         workload="windowed")
    summary = ChaosDriver(ProxyCut(proxy), tmp_path, config, log=False).run()
    report = summary.render()
    print(report)
    assert summary.ok, report
    windows = summary.windows
    assert windows is not None and summary.messages == config.messages + config.partitions, report
    assert summary.kills == config.kills and summary.state_deletions == 1, report
    assert summary.windows_expected > 1000 and summary.late_expected > 0, report
    assert windows.missing == 0 and not windows.wrong, report
    assert windows.late_missing == 0 and windows.late_unexpected == 0, report
    if guarantee == "exactly-once":
        assert windows.repeats == 0 and windows.late_seen == summary.late_expected, report
    assert summary.restores > 0, f"partitions moved between members, so stores must restore\n{report}"
