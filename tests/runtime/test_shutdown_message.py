"""The stop message claims a left group only when the consumer closed cleanly."""

from __future__ import annotations

import logging

import pytest

from streamproc.runtime.shutdown import StopTimer


@pytest.mark.parametrize(("left", "expected"), [(True, "stopped gracefully in"), (False, "but not cleanly")])
def test_stop_message(left: bool, expected: str, caplog: pytest.LogCaptureFixture) -> None:
    timer = StopTimer(30.0, 6)
    timer.arm()
    with caplog.at_level(logging.INFO, logger="streamproc.runtime.shutdown"):
        timer.stopped(left)
    [record] = caplog.records
    assert expected in record.getMessage()
    assert ("left the group" in record.getMessage()) is left
