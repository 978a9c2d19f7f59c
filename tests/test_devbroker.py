"""The embedded broker with TLS: TLS only on its port, client certificates when asked, clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamproc.devbroker import EmbeddedBroker
from streamproc.errors import ConfigError
from streamproc.kafka import admin as kadmin
from tests.support.tls import TlsFiles, make_tls_files

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"), "client-key-password")


@pytest.fixture(scope="module")
def mutual_tls_broker(tls: TlsFiles) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(cert=tls.server_cert, key=tls.server_key, client_ca=tls.ca) as running:
        yield running


def test_tls_broker_answers_tls_clients_and_advertises_its_tls_port(tls: TlsFiles) -> None:
    with EmbeddedBroker(cert=tls.server_cert, key=tls.server_key) as running:
        admin = kadmin.connect({"bootstrap.servers": running.bootstrap_servers, **tls.client_settings(mutual=False)},
                               timeout=10)
        brokers = admin.list_topics(timeout=5).brokers
        # Every connection the metadata leads to goes through TLS too, not to Tansu's private port.
        assert [f"{b.host}:{b.port}" for b in brokers.values()] == [running.bootstrap_servers]


def test_tls_broker_refuses_plaintext(tls: TlsFiles) -> None:
    with EmbeddedBroker(cert=tls.server_cert, key=tls.server_key) as running, \
            pytest.raises(ConfigError, match=r"for a TLS or SASL listener, -X security\.protocol"):
        kadmin.connect({"bootstrap.servers": running.bootstrap_servers}, timeout=2)


def test_an_untrusted_broker_certificate_fails_at_once_with_the_reason(mutual_tls_broker: EmbeddedBroker,
                                                                        tls: TlsFiles) -> None:
    settings = {**tls.client_settings(), "ssl.ca.location": str(tls.server_cert)}  # not the CA that signed it
    with pytest.raises(ConfigError) as error:
        kadmin.connect({"bootstrap.servers": mutual_tls_broker.bootstrap_servers, **settings}, timeout=30)
    assert "certificate verify failed" in str(error.value)
    assert "check the -X security.protocol, ssl.* and sasl.* settings" in str(error.value)
    assert tls.client_key_password not in str(error.value)


def test_mutual_tls_requires_a_client_certificate(mutual_tls_broker: EmbeddedBroker, tls: TlsFiles) -> None:
    bootstrap = {"bootstrap.servers": mutual_tls_broker.bootstrap_servers}
    with pytest.raises(ConfigError, match="cannot reach Kafka"):
        kadmin.connect({**bootstrap, **tls.client_settings(mutual=False)}, timeout=2)
    assert kadmin.connect({**bootstrap, **tls.client_settings()}, timeout=10).list_topics(timeout=5).brokers


def test_bad_tls_files_are_named(tls: TlsFiles, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs both a TLS certificate and its key"):
        EmbeddedBroker(cert=tls.server_cert)
    with pytest.raises(ConfigError, match=r"--cert .*missing.pem: No such file"):
        EmbeddedBroker(cert=tmp_path / "missing.pem", key=tls.server_key)
    with pytest.raises(ConfigError, match=r"--key /dev/zero is not a regular file"):
        EmbeddedBroker(cert=tls.server_cert, key=Path("/dev/zero"))
    huge = tmp_path / "huge.pem"
    huge.write_bytes(b"-" * (2 << 20))
    with pytest.raises(ConfigError, match=r"--client-ca .*huge.pem is larger than 1,048,576 bytes"):
        EmbeddedBroker(cert=tls.server_cert, key=tls.server_key, client_ca=huge)
    with pytest.raises(ConfigError, match="cannot load the broker's TLS files"):
        EmbeddedBroker(cert=tls.server_cert, key=tls.client_key)  # encrypted, and not the certificate's key
