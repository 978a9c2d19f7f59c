"""Which broker this is, and so which workarounds the worker uses: from the cluster id, unless set."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from streamproc.kafka import quirks
from tests.support.kafka import TEST_BROKER


class Cluster:
    def __init__(self, cluster_id: str | None, fails: bool = False) -> None:
        self.cluster_id, self.fails = cluster_id, fails

    def describe_cluster(self, request_timeout: float) -> Any:
        outer = self

        class Future:
            def result(self) -> Any:
                if outer.fails:
                    raise RuntimeError("UNSUPPORTED_VERSION")
                return outer

        return Future()


def test_the_cluster_id_tells_the_brokers_apart() -> None:
    assert quirks.detect(Cluster("tansu_cluster")) is quirks.TANSU
    assert quirks.detect(Cluster("MkU3OEVBNTcwNTJENDM2Qg")) is quirks.APACHE_KAFKA
    assert quirks.detect(Cluster(None, fails=True)) is quirks.CAUTIOUS
    assert quirks.TANSU.fetch_gaps and quirks.TANSU.stale_end_offsets
    assert not (quirks.APACHE_KAFKA.fetch_gaps or quirks.APACHE_KAFKA.stale_end_offsets)


def test_a_setting_wins_over_the_broker() -> None:
    assert quirks.choose("kafka", Cluster("tansu_cluster")) is quirks.APACHE_KAFKA
    assert quirks.choose("auto", Cluster("tansu_cluster")) is quirks.TANSU


@pytest.mark.integration
def test_the_broker_under_test_is_recognised(broker: str) -> None:
    found = quirks.detect(AdminClient({"bootstrap.servers": broker}))
    assert found is (quirks.TANSU if TEST_BROKER == "tansu" else quirks.APACHE_KAFKA)
