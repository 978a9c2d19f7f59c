"""The Schema Registry behind ConfluentAvroSerde: one client per registry per process, and errors that
say what failed without ever carrying a credential.

Every message built here goes through ``redact``, and registry exceptions are not chained (``from
None``): their text can echo a URL with its userinfo, and these messages end up in logs and in DLQ
headers that other people read.

A registry that cannot answer raises ServiceError, which the runtime does not dead-letter; only a
record naming a schema id the registry does not have is the record's fault (SerdeError).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from streamproc.errors import ConfigError, SchemaError, SerdeError, ServiceError
from streamproc.serde.avro_schema import ParsedSchema

if TYPE_CHECKING:  # the registry client pulls in an HTTP and OAuth stack (0.3 s): imported when first used
    from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient

#: Settings whose values are credentials, by a part of their name.
_SECRET_MARKERS = ("password", "secret", "user.info", "token")

_CLIENTS: dict[tuple[tuple[str, str], ...], SchemaRegistryClient] = {}


def _registry_error() -> type[Exception]:
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    return SchemaRegistryError


class RegistryClient:
    """A SchemaRegistryClient with a printable name and the secrets to keep out of messages."""

    __slots__ = ("_secrets", "client", "display")

    def __init__(self, client: SchemaRegistryClient, display: str, secrets: set[str]) -> None:
        self.client = client
        #: The registry's URL(s) without userinfo, for messages and reprs.
        self.display = display
        self._secrets = _longest_first(secrets)

    def redact(self, text: object) -> str:
        return _redact(text, self._secrets)

    def writer_id(self, subject: str, schema_text: str, auto_register: bool, normalize: bool, name: str) -> int:
        """The id of the Avro schema ``schema_text`` under ``subject``: registered if ``auto_register``, else
        looked up."""
        from confluent_kafka.schema_registry import Schema

        registry_error = _registry_error()
        schema = Schema(schema_text, "AVRO")
        action = "register" if auto_register else "look up"
        try:
            if auto_register:
                schema_id: int | None = self.client.register_schema(subject, schema, normalize_schemas=normalize)
            else:
                schema_id = self.client.lookup_schema(subject, schema, normalize_schemas=normalize).schema_id
            if schema_id is not None:
                return int(schema_id)
            message = f"the Schema Registry at {self.display} returned no id for schema {name} under {subject!r}"
        except registry_error as exc:
            status = getattr(exc, "http_status_code", None)
            if status == 404 and not auto_register:
                message = (f"schema {name} is not registered under subject {subject!r} in the Schema Registry at "
                           f"{self.display}, and auto_register is off: register it first, or pass auto_register=True")
            elif status == 409:
                message = (f"the Schema Registry at {self.display} rejected schema {name} for subject {subject!r} as "
                           f"incompatible with the versions registered before it: {self.redact(exc)}")
            else:
                message = (f"the Schema Registry at {self.display} failed to {action} schema {name} under subject "
                           f"{subject!r}: {self.redact(exc)}")
        except Exception as exc:
            message = (f"cannot reach the Schema Registry at {self.display} to {action} schema {name} under subject "
                       f"{subject!r}: {type(exc).__name__}: {self.redact(exc)}")
        raise ServiceError(message)

    def writer_schema(self, schema_id: int, topic: str) -> tuple[Schema, dict[str, Any]]:
        """The Avro schema with ``schema_id`` and the named types its references define."""
        schema = self._fetch(lambda: self.client.get_schema(schema_id), f"schema id {schema_id}", topic)
        if (schema.schema_type or "AVRO") != "AVRO":
            raise SerdeError(f"schema id {schema_id} on topic {topic!r} is a {schema.schema_type} schema, not Avro")
        named: dict[str, Any] = {}
        self._add_references(schema.references or [], named, topic, set())
        return schema, named

    def _add_references(self, references: list[SchemaReference], named: dict[str, Any], topic: str,
                        seen: set[tuple[str, int]]) -> None:
        for ref in references:
            subject, version = str(ref.subject), int(ref.version or -1)
            if (subject, version) in seen:
                continue
            seen.add((subject, version))
            what = f"schema reference {ref.name!r} ({subject} version {version})"
            registered = self._fetch(lambda s=subject, v=version: self.client.get_version(s, v), what, topic)
            self._add_references(registered.schema.references or [], named, topic, seen)
            try:
                ParsedSchema(json.loads(registered.schema.schema_str or ""), named, what=what)
            except (SchemaError, ValueError) as exc:
                raise SerdeError(f"{what} on topic {topic!r} is not usable Avro: {exc}") from None

    def _fetch(self, call: Any, what: str, topic: str) -> Any:
        try:
            return call()
        except _registry_error() as exc:
            if getattr(exc, "http_status_code", None) == 404:
                raise SerdeError(
                    f"{what} on topic {topic!r} is not in the Schema Registry at {self.display} "
                    f"(written against another registry, or deleted?)"
                ) from None
            message = f"the Schema Registry at {self.display} failed to return {what}: {self.redact(exc)}"
        except Exception as exc:
            message = (f"cannot reach the Schema Registry at {self.display} for {what}: "
                       f"{type(exc).__name__}: {self.redact(exc)}")
        raise ServiceError(message)


def connect(registry: str | Mapping[str, Any] | SchemaRegistryClient) -> RegistryClient:
    """A client for ``registry`` (URL, settings or client); equal settings share one client per process,
    so its caches and connections serve every serde (and ``mock://`` names one in-process registry)."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    if isinstance(registry, SchemaRegistryClient):
        urls = getattr(getattr(registry, "_rest_client", None), "base_urls", None) or []
        secrets = {secret for url in urls for secret in _url_secrets(url)}
        display = ",".join(_strip_userinfo(u) for u in urls) or type(registry).__name__
        return RegistryClient(registry, display, secrets)
    conf: dict[str, Any] = {"url": registry} if isinstance(registry, str) else dict(registry)
    url = conf.get("url")
    secrets = {str(v) for k, v in conf.items() if any(m in k for m in _SECRET_MARKERS) and v}
    for value in list(secrets):
        secrets.add(value.partition(":")[2])  # basic.auth.user.info is user:password
    urls = [u.strip() for u in url.split(",")] if isinstance(url, str) else []
    secrets.update(secret for u in urls for secret in _url_secrets(u))
    display = ",".join(_strip_userinfo(u) for u in urls) or "(no url)"
    if not isinstance(url, str) or not url:
        raise ConfigError("Schema Registry settings need a 'url' (e.g. http://localhost:8081, or mock://name in tests)")
    key = tuple(sorted((k, repr(v)) for k, v in conf.items()))
    client = _CLIENTS.get(key)
    if client is None:
        try:
            client = SchemaRegistryClient.new_client(conf)
        except Exception as exc:
            reason = _redact(exc, _longest_first(secrets))
            raise ConfigError(f"Schema Registry settings for {display}: {reason}") from None
        _CLIENTS[key] = client
    return RegistryClient(client, display, secrets)


def _longest_first(secrets: set[str]) -> list[str]:
    """Longest first, so that a password inside a longer secret (user:password) cannot leave part of it."""
    return sorted((s for s in secrets if s), key=len, reverse=True)


def _redact(text: object, secrets: list[str]) -> str:
    result = str(text)
    for secret in secrets:
        result = result.replace(secret, "***")
    return result[:1000]


def _url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    password = parts.password
    return [] if not password else [password, unquote(password)]


def _strip_userinfo(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable url)"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
