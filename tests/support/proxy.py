"""A TCP proxy between clients and a broker that a test can cut and restore.

Two ways to cut, as networks fail: ``refuse`` closes every connection and resets new ones at once
(a broker that is down), ``blackhole`` closes every connection and accepts new ones but never
answers (a partition: clients only notice by timing out). ``restore`` forwards again.

Clients must reach the broker only through the proxy, so the broker has to advertise the proxy's
address in its metadata (EmbeddedBroker(advertised=...)); otherwise clients connect to the broker
directly after their first metadata request and a cut stops nothing.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Literal

from streamproc.devbroker import EmbeddedBroker, free_port
from tests.support.apache_kafka import KafkaCluster

CutMode = Literal["refuse", "blackhole"]
_CHUNK = 256 * 1024


class _Connection:
    """A client socket and its upstream socket, pumped by two threads.

    Other threads only ever shut the sockets down, which wakes the pumps; the last pump to finish
    closes them. Closing a socket while the other pump is inside ``sendall`` on it would free its
    file descriptor for the next accepted connection, and the rest of the data would go there.
    """

    __slots__ = ("_done", "_lock", "_running", "sockets")

    def __init__(self, client: socket.socket, upstream: socket.socket,
                 done: Callable[[_Connection], None]) -> None:
        self.sockets = (client, upstream)
        self._done = done
        self._lock = threading.Lock()
        self._running = 2

    def start(self, name: str) -> None:
        client, upstream = self.sockets
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, target), daemon=True, name=name).start()

    def shutdown(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        self.shutdown()
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            for sock in self.sockets:
                sock.close()
            self._done(self)


class TcpProxy:
    """Forwards ``listen_port`` on 127.0.0.1 to ``upstream``; one thread per direction per connection."""

    def __init__(self, upstream: tuple[str, int], listen_port: int = 0) -> None:
        self.upstream = upstream
        self._server = socket.create_server(("127.0.0.1", listen_port), backlog=128)
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[_Connection] = set()
        self._held: list[socket.socket] = []
        self._cut: CutMode | None = None
        self._closed = False
        #: Connections forwarded, and cuts made, for a test to see that traffic really went through.
        self.connections = 0
        self.cuts = 0
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def is_cut(self) -> bool:
        return self._cut is not None

    def cut(self, mode: CutMode = "blackhole") -> None:
        """Close every open connection; from now on refuse or swallow new ones."""
        with self._lock:
            self._cut = mode
            self.cuts += 1
            victims, self._open = self._open, set()
        for connection in victims:
            connection.shutdown()

    def restore(self) -> None:
        """Forward new connections again (the connections swallowed meanwhile are closed)."""
        with self._lock:
            self._cut = None
            held, self._held = self._held, []
        for sock in held:
            _close(sock)

    def close(self) -> None:
        self._closed = True
        self.cut("refuse")
        _close(self._server)
        self._acceptor.join(5)
        self.restore()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._open.discard(connection)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                mode = self._cut
                if mode == "blackhole":
                    self._held.append(client)
                    continue
            if mode == "refuse":
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            connection = _Connection(client, upstream, self._forget)
            with self._lock:
                if self._cut is not None:  # cut while connecting
                    _close(upstream)
                    _reset(client)
                    continue
                self._open.add(connection)
                self.connections += 1
            connection.start(f"proxy-{self.connections}")


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with a RST rather than a FIN, as a refused connection looks to the client."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def proxied_broker(log_path: Path | None = None, kind: str = "tansu") -> Iterator[TcpProxy]:
    """A broker of its own (``kind``: tansu, or kafka for Apache Kafka) that every client reaches through a
    TcpProxy (bootstrap: ``proxy.address``)."""
    port = free_port()
    with TcpProxy(("127.0.0.1", port)) as proxy:
        if kind == "kafka":
            with KafkaCluster(1, workdir=None if log_path is None else log_path.parent / "kafka",
                              advertised=[proxy.address], ports=[port]):
                yield proxy
        else:
            with EmbeddedBroker(port=port, log_path=log_path, advertised=proxy.address):
                yield proxy
