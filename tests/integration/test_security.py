"""Security end to end: the word count over mutual TLS, failures that explain themselves, and
secrets (a key password, a SASL password) that appear nowhere in the output, even when librdkafka
debug logging and streamproc's DEBUG level are on."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamproc.devbroker import EmbeddedBroker, find_tansu, free_port
from tests.support.kafka import REPO, wait_for
from tests.support.tls import TlsFiles, make_tls_files
from tests.support.wordcount import run_until_exact

pytestmark = pytest.mark.integration

KEY_PASSWORD = "tls-key-pass-SECRET-5be1"
SASL_PASSWORD = "sasl-pass-SECRET-0d77"
#: What librdkafka can say about configuration, security, connections and requests, plus streamproc at DEBUG.
VERBOSE = ["--log-level", "DEBUG", "-X", "debug=conf,security,broker,protocol"]


def flags(settings: dict[str, str]) -> list[str]:
    return [flag for key, value in settings.items() for flag in ("-X", f"{key}={value}")]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"), KEY_PASSWORD)


@pytest.fixture(scope="module")
def mtls_broker(tls: TlsFiles) -> Iterator[str]:
    with EmbeddedBroker(cert=tls.server_cert, key=tls.server_key, client_ca=tls.ca) as running:
        yield running.bootstrap_servers


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[str]:
    """Tansu requiring SASL (SCRAM). It has no users and none can be added: its users live in its
    storage, private to the process in memory, and adding one needs an authenticated connection."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen([str(find_tansu()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                                "--storage-engine", "memory://tansu/", "--authentication"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _listening(port), 10, "the SASL broker to listen")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_wordcount_over_mutual_tls_with_an_encrypted_key(mtls_broker: str, tls: TlsFiles, tmp_path: Path) -> None:
    """The broker refuses clients without a certificate, and the certificate's key needs its password:
    exact counts prove that the settings reached the worker's admin client, consumer, restore consumer
    and producer alike. librdkafka debug logging also covers the regression where a log line after
    the assign callback aborted the worker."""
    client = tls.client_settings()
    run, output = run_until_exact(mtls_broker, tmp_path, client, 5, *flags(client), *VERBOSE, timeout=60)
    assert "ssl://" in output  # librdkafka's debug lines name the TLS connections
    assert "ssl.key.password=[redacted]" in output  # the supervisor logs the settings, redacted
    assert KEY_PASSWORD not in output
    directories = [run.state_dir, *[p for p in run.state_dir.rglob("*") if p.is_dir()]]
    assert len(directories) >= 1 + 1 + 1 + 3  # state, topology, store "counts", one per partition
    assert {oct(stat.S_IMODE(d.stat().st_mode)) for d in directories} == {oct(0o700)}


def run_failing(bootstrap: str, tmp_path: Path, settings: dict[str, str]) -> str:
    """``streamproc run`` that must stop on its own with exit code 3 (a problem no restart fixes); its output."""
    target = tmp_path / "target.py"
    target.write_text(f"import sys\nsys.path.insert(0, {str(REPO / 'topologies')!r})\n"
                      "from wordcount import build\ntopology = build('wc-fail', 'sentences', 'counts')\n")
    result = subprocess.run(
        [sys.executable, "-m", "streamproc.cli.main", "run", str(target), "--bootstrap-servers", bootstrap,
         "--state-dir", str(tmp_path / "state"), *flags(settings), *VERBOSE],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 3, output[-3000:]
    return output


def test_rejected_sasl_credentials_are_explained_without_the_password(sasl_broker: str, tmp_path: Path) -> None:
    output = run_failing(sasl_broker, tmp_path, {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "streamproc", "sasl.password": SASL_PASSWORD,
    })
    assert f"cannot connect to Kafka at {sasl_broker}: " in output
    assert "SASL authentication error" in output
    assert "sasl.password=[redacted]" in output
    assert "SaslAuthenticateRequest" in output  # the debug output did cover the authentication exchange
    assert SASL_PASSWORD not in output


@pytest.mark.parametrize(("case", "explanation"), [
    ("wrong key password", "cannot create the Kafka admin client: ssl.key.location failed"),
    ("untrusted broker", "certificate verify failed"),
])
def test_tls_misconfiguration_is_explained_without_the_key_password(case: str, explanation: str, mtls_broker: str,
                                                                    tls: TlsFiles, tmp_path: Path) -> None:
    settings = tls.client_settings()
    if case == "wrong key password":
        settings["ssl.key.password"] = KEY_PASSWORD + "-typo"
    else:
        settings["ssl.ca.location"] = str(tls.client_cert)  # a certificate that signed nothing
    output = run_failing(mtls_broker, tmp_path, settings)
    assert explanation in output
    assert KEY_PASSWORD not in output
