"""Mutual TLS on Apache Kafka: the broker demands a client certificate signed by the test CA; the word
count's certificate key is encrypted, and exact counts show the settings reached every client. A
client without a certificate, or one that does not trust the broker, is stopped with a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_security import KEY_PASSWORD, flags, run_failing
from tests.support.apache_kafka import KafkaCluster
from tests.support.tls import TlsFiles, make_tls_files, pkcs12_keystore
from tests.support.wordcount import run_until_exact

pytestmark = [pytest.mark.integration, pytest.mark.broker(
    "kafka", reason="the embedded broker's TLS is streamproc's own terminator (tests/integration/test_security.py)")]

STORE_PASSWORD = "store-pass-SECRET-44ab"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"), KEY_PASSWORD)


@pytest.fixture(scope="module")
def tls_kafka(broker_kind: str, tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("tls-kafka")
    keystore = pkcs12_keystore(tls, workdir / "server.p12", STORE_PASSWORD)
    with KafkaCluster(1, workdir=workdir, tls=(keystore, tls.ca, STORE_PASSWORD), client=tls.client_settings(),
                      heap="384m") as cluster:
        yield cluster.bootstrap_servers


def test_wordcount_over_mutual_tls_on_kafka(tls_kafka: str, tls: TlsFiles, tmp_path: Path) -> None:
    client = tls.client_settings()
    _, output = run_until_exact(tls_kafka, tmp_path, client, 85, *flags(client))
    assert "ssl.key.password=[redacted]" in output and KEY_PASSWORD not in output


@pytest.mark.parametrize(("case", "explanation"), [
    # Under TLS 1.3 the broker refuses a missing certificate after the client thinks the handshake done:
    # librdkafka sees only a transport failure, so the hint to check the TLS settings is all there is.
    ("no client certificate", "for a TLS or SASL listener, -X security.protocol"),
    ("untrusted broker", "certificate verify failed"),
])
def test_tls_refusals_on_kafka_are_explained(case: str, explanation: str, tls_kafka: str, tls: TlsFiles,
                                             tmp_path: Path) -> None:
    settings = tls.client_settings(mutual=case != "no client certificate")
    if case == "untrusted broker":
        settings["ssl.ca.location"] = str(tls.client_cert)  # a certificate that signed nothing
    output = run_failing(tls_kafka, tmp_path, settings)
    assert explanation in output, output[-2000:]
    assert KEY_PASSWORD not in output
