"""The HTTP endpoint of a worker or of the supervisor: /metrics, /healthz and /readyz.

It runs in a daemon thread, so a slow scraper never holds up processing. /healthz answers 200 as
long as the process serves requests at all (liveness: restart me if this fails); /readyz answers
200 only while the readiness callable says so, and 503 with its reason otherwise (route work or
alerts to me only when this succeeds). /metrics is the classic Prometheus text format.

It is built to be exposed: it serves at most MAX_CONNECTIONS connections at once (one thread each;
a connection over that is closed at once), each for at most CONNECTION_TIMEOUT seconds idle, with a
listen backlog that absorbs a burst. A client that goes away mid-reply is logged at DEBUG: a scraper
that timed out is not an error of this process.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, generate_latest

from streamproc.errors import ConfigError

log = logging.getLogger(__name__)

#: Returns (ready, reason); called on the server's thread for every /readyz request.
Readiness = Callable[[], tuple[bool, str]]

TEXT = "text/plain; charset=utf-8"
#: What generate_latest writes: the classic text format that every Prometheus version parses.
METRICS = "text/plain; version=0.0.4; charset=utf-8"
#: Connections served at once; one over this is closed without a reply (a scraper retries).
MAX_CONNECTIONS = 64
#: Seconds a connection may sit idle (before its request, or between requests) before it is closed.
CONNECTION_TIMEOUT = 10.0
#: A client that disappears: nothing this process did wrong.
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class BoundedHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer with a bound on concurrent connections and quiet logging of dropped clients."""

    request_queue_size = 128
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self.dropped = 0
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.dropped += 1
            log.debug("metrics endpoint: all connection slots busy, closing the one from %s", client_address)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, _GONE):
            log.debug("metrics endpoint: client %s went away: %s", client_address, error)
        else:
            log.warning("metrics endpoint: serving %s failed: %s: %s", client_address, type(error).__name__, error)


class MonitoringServer:
    """Serves ``registry`` and ``readiness`` on ``host:port`` (port 0: any free port, see ``port``)."""

    def __init__(self, registry: CollectorRegistry, readiness: Readiness, host: str = "127.0.0.1",
                 port: int = 0, max_connections: int = MAX_CONNECTIONS, timeout: float = CONNECTION_TIMEOUT) -> None:
        handler = _handler(registry, readiness, timeout)
        try:
            self._httpd = BoundedHTTPServer((host, port), handler, max_connections)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc} "
                              "(choose another --metrics-port, or stop what is using it)") from exc
        # A short poll interval: close() waits for it.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="streamproc-metrics", daemon=True)

    @property
    def dropped(self) -> int:
        """Connections closed unserved because every slot was busy."""
        return self._httpd.dropped

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> MonitoringServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()


def _handler(registry: CollectorRegistry, readiness: Readiness, idle: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = idle  # applied to the socket: an idle client cannot hold its thread

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            try:
                if path == "/metrics":
                    self._reply(200, generate_latest(registry), METRICS)
                elif path == "/healthz":
                    self._reply(200, b"ok\n")
                elif path == "/readyz":
                    ready, reason = readiness()
                    self._reply(200 if ready else 503, f"{'ready' if ready else 'not ready'}: {reason}\n".encode())
                else:
                    self._reply(404, b"not found: try /metrics, /healthz or /readyz\n")
            except _GONE as exc:
                log.debug("metrics endpoint: client %s went away: %s", self.address_string(), exc)
                self.close_connection = True
            except Exception as exc:
                log.exception("serving %s failed", path)
                self._reply(500, f"{type(exc).__name__}: {exc}\n".encode())

        def _reply(self, status: int, body: bytes, content_type: str = TEXT) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
