"""A SASL/SCRAM login that succeeds: Apache Kafka with users created when its storage is formatted. The
word count runs with the credentials given by -X (admin client, consumers and producer alike), the
password never appears in its output, and a wrong password stops it with a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_security import flags, run_failing
from tests.support.apache_kafka import KafkaCluster
from tests.support.wordcount import run_until_exact

pytestmark = [pytest.mark.integration, pytest.mark.broker(
    "kafka", reason="Tansu keeps users in its own storage and adding one needs a login, so none can succeed")]

USER, PASSWORD = "streamproc", "scram-pass-SECRET-7c3e"


@pytest.fixture(scope="module")
def sasl_kafka(broker_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    users = {"admin": "admin-pass-SECRET-91d0", USER: PASSWORD}  # the first one is the brokers' own
    with KafkaCluster(1, workdir=tmp_path_factory.mktemp("sasl"), scram_users=users, heap="384m") as cluster:
        yield cluster.bootstrap_servers


def scram(password: str) -> dict[str, str]:
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": USER, "sasl.password": password}


def test_wordcount_logs_in_with_scram(sasl_kafka: str, tmp_path: Path) -> None:
    client = scram(PASSWORD)
    _, output = run_until_exact(sasl_kafka, tmp_path, client, 81, *flags(client), "--log-level", "DEBUG",
                             "-X", "debug=security")
    assert "sasl.password=[redacted]" in output
    assert "SCRAM" in output, "librdkafka's security debug lines should show the SCRAM exchange"
    assert PASSWORD not in output


def test_a_wrong_password_stops_the_worker_clearly_without_showing_it(sasl_kafka: str, tmp_path: Path) -> None:
    wrong = PASSWORD + "-typo"
    output = run_failing(sasl_kafka, tmp_path, scram(wrong))
    assert f"cannot connect to Kafka at {sasl_kafka}: " in output
    assert "Authentication failed" in output or "SASL authentication error" in output, output[-2000:]
    assert wrong not in output and PASSWORD not in output
