"""The HTTP endpoint of a worker or of the supervisor: /metrics, /healthz and /readyz.

It runs in a daemon thread, so a slow scraper never holds up processing. /healthz answers 200 as
long as the process serves requests at all (liveness: restart me if this fails); /readyz answers
200 only while the readiness callable says so, and 503 with its reason otherwise (route work or
alerts to me only when this succeeds). /metrics is the classic Prometheus text format.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, generate_latest

from streamproc.errors import ConfigError

log = logging.getLogger(__name__)

#: Returns (ready, reason); called on the server's thread for every /readyz request.
Readiness = Callable[[], tuple[bool, str]]

TEXT = "text/plain; charset=utf-8"
#: What generate_latest writes: the classic text format that every Prometheus version parses.
METRICS = "text/plain; version=0.0.4; charset=utf-8"


class MonitoringServer:
    """Serves ``registry`` and ``readiness`` on ``host:port`` (port 0: any free port, see ``port``)."""

    def __init__(self, registry: CollectorRegistry, readiness: Readiness, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        handler = _handler(registry, readiness)
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc} "
                              "(choose another --metrics-port, or stop what is using it)") from exc
        self._httpd.daemon_threads = True
        # A short poll interval: close() waits for it.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="streamproc-metrics", daemon=True)

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


def _handler(registry: CollectorRegistry, readiness: Readiness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
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
