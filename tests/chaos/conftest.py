"""What the chaos tests share: the guarantees they run under, and a broker behind a proxy that can be cut, one per
test module (the modules run in parallel test processes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kafka import TEST_BROKER
from tests.support.proxy import TcpProxy, proxied_broker

#: At-least-once on both brokers; exactly-once on Apache Kafka too, where "no duplicates" can be asserted:
#: Tansu hands aborted records to read_committed readers (README: "What the embedded broker does
#: differently"). `python -m tests.chaos --guarantee exactly-once` runs it at full size.
GUARANTEES = ["at-least-once", "exactly-once"] if TEST_BROKER == "kafka" else ["at-least-once"]


@pytest.fixture(scope="module")
def proxy(broker_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpProxy]:
    with proxied_broker(tmp_path_factory.mktemp("chaos-broker") / "broker.log", broker_kind) as proxy:
        yield proxy
