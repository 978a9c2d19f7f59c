"""Output against the embedded broker: per-record delivery callbacks really fire, with real offsets."""

from __future__ import annotations

from typing import Any

import pytest

from streamproc.kafka.config import producer_config
from streamproc.runtime.output import Output
from tests.support.kafka import create_topic, unique

pytestmark = pytest.mark.integration


def test_per_record_delivery_callback_sees_each_offset(broker: str) -> None:
    """Changelog positions come from these callbacks; a callback the client ignores left them at 0."""
    topic = unique("delivery")
    create_topic(broker, topic, 1)
    output = Output(config=producer_config(broker, {}, "test"))
    seen: list[int] = []

    def on_delivery(err: Any, msg: Any) -> None:
        assert err is None
        seen.append(msg.offset())

    for i in range(20):
        output.send(topic, b"k", f"v{i}".encode(), 0, None, None, on_delivery)
    output.flush(10)
    assert sorted(seen) == list(range(20))
