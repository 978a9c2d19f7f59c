"""ConfluentAvroSerde over HTTP: the client's real transport and basic auth against a stand-in registry.

The stand-in answers the two calls the serde makes (register a schema under a subject, fetch a schema
by id) as Confluent's REST API does, and demands basic auth. It shows that an http:// URL with
credentials works unchanged and that a refused request reads well and leaks nothing.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from streamproc.errors import ServiceError
from streamproc.serde import ConfluentAvroSerde, SerdeContext

CTX = SerdeContext("orders", is_key=False)
ORDER = {"type": "record", "name": "Order", "fields": [{"name": "order_id", "type": "string"}]}
USER_INFO = "alice:pa55-word"


class StandInRegistry(BaseHTTPRequestHandler):
    schemas: list[str] = []
    authorizations: list[str | None] = []

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization")
        self.authorizations.append(header)
        if header == "Basic " + base64.b64encode(USER_INFO.encode()).decode():
            return True
        self._reply(401, {"error_code": 40101, "message": "Unauthorized"})
        return False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self._authorized():
            return
        if body["schema"] not in self.schemas:
            self.schemas.append(body["schema"])
        self._reply(200, {"id": self.schemas.index(body["schema"]) + 1})

    def do_GET(self) -> None:
        if not self._authorized():
            return
        schema_id = int(self.path.split("?")[0].rsplit("/", 1)[1])
        if 1 <= schema_id <= len(self.schemas):
            self._reply(200, {"schema": self.schemas[schema_id - 1]})
        else:
            self._reply(404, {"error_code": 40403, "message": "Schema not found"})

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    StandInRegistry.schemas, StandInRegistry.authorizations = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInRegistry)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_registering_and_fetching_over_http_with_basic_auth(registry_url: str) -> None:
    producer = ConfluentAvroSerde({"url": registry_url, "basic.auth.user.info": USER_INFO}, ORDER)
    data = producer.serialize({"order_id": "o-1"}, CTX)
    assert data is not None and data[:5] == b"\x00\x00\x00\x00\x01"
    # Other settings, so another client: the schema is fetched by id over HTTP, not from the producer's cache.
    consumer = ConfluentAvroSerde({"url": registry_url, "basic.auth.user.info": USER_INFO, "timeout": 10})
    assert consumer.deserialize(data, CTX) == {"order_id": "o-1"}
    assert json.loads(StandInRegistry.schemas[0]) == ORDER
    assert len(StandInRegistry.authorizations) == 2 and all(StandInRegistry.authorizations)


def test_refused_credentials_read_well_and_leak_nothing(registry_url: str) -> None:
    serde = ConfluentAvroSerde({"url": registry_url, "basic.auth.user.info": "alice:wrong-secret"}, ORDER)
    with pytest.raises(ServiceError) as raised:
        serde.serialize({"order_id": "o-1"}, CTX)
    message = str(raised.value)
    assert message.startswith(f"the Schema Registry at {registry_url} failed to register schema Order under subject "
                              "'orders-value': Unauthorized (HTTP status code 401, SR code 40101)")
    assert "wrong-secret" not in message and "wrong-secret" not in repr(serde)
