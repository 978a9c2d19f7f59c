"""The Apache Kafka the tests run on (tests/support/apache_kafka.py): a node that cannot start says why,
a machine without Java or Maven is told what it lacks, and a three-node cluster replicates."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tests.support.apache_kafka import KafkaCluster, KafkaStartError
from tests.support.kafka_jars import KafkaUnavailable, fetch_jars, find_java

pytestmark = pytest.mark.integration
#: For the tests that start Kafka nodes of their own: they run in the Kafka half, where Java and Maven are known.
kafka_half = pytest.mark.broker("kafka", reason="starts Apache Kafka nodes of its own")


def test_without_java_the_reason_names_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KafkaUnavailable, match=r"needs Java 17\+: no `java` on PATH"):
        find_java()


def test_without_maven_and_jars_the_reason_names_maven(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STREAMPROC_KAFKA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KafkaUnavailable, match="needs Maven: no `mvn` on PATH"):
        fetch_jars()


@kafka_half
def test_a_taken_port_is_named(broker_kind: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cluster = KafkaCluster(1, workdir=tmp_path / "kafka", ports=[port])
        with pytest.raises(KafkaStartError, match=f"port {port} is taken"):
            cluster.start()
    assert not (tmp_path / "kafka" / "node-1" / "data").exists(), "a failed start leaves no data behind"


@kafka_half
def test_a_node_that_exits_on_start_shows_its_log(broker_kind: str, tmp_path: Path) -> None:
    cluster = KafkaCluster(1, workdir=tmp_path / "kafka", heap="1m")  # too small for the JVM to start
    with pytest.raises(KafkaStartError) as raised:
        cluster.start()
    message = str(raised.value)
    assert "Kafka node 1 exited with code 1 while starting" in message and "last lines of" in message, message
    assert "heap" in message.lower(), f"the log's last lines should say what is wrong:\n{message}"


@kafka_half
def test_three_nodes_replicate_and_clean_up(broker_kind: str, tmp_path: Path) -> None:
    with KafkaCluster(3, workdir=tmp_path / "cluster") as cluster:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
        metadata = admin.list_topics(timeout=10)
        assert sorted(metadata.brokers) == [1, 2, 3]
        admin.create_topics([NewTopic("replicated", 3)])["replicated"].result()  # the cluster's defaults
        partitions = admin.list_topics("replicated", timeout=10).topics["replicated"].partitions
        assert all(len(p.replicas) == 3 for p in partitions.values()), partitions
    assert not any((tmp_path / "cluster").glob("node-*/data")), "stop() removes every node's data"
