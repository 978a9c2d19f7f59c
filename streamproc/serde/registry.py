"""Avro in the Confluent wire format, with schemas kept in a Schema Registry.

Each record is ``0x00`` + the writer schema's 4-byte big-endian id + the Avro body, as Confluent's
serializers (Java, Go, .NET, Python) write it, so topics are shared with any of them.

Written on fastavro with the registry client for look-ups only, rather than on confluent-kafka's
AvroSerializer/AvroDeserializer: those cost 15 µs and 24 µs per small record (they build a context
and run the data-contract rule engine per call), this costs 3-5 µs. The registry is asked once per
writer schema id and once per (topic, key/value) subject; after that the hot path is a dict look-up
and fastavro.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import fastavro

from streamproc.errors import SchemaError, SerdeError
from streamproc.serde.avro import SharesSchemasWhenCopied, describe_read_error
from streamproc.serde.avro_schema import AvroSchema, Decoder, ParsedSchema, load_schema, make_decoder
from streamproc.serde.base import SerdeContext, ValueShape
from streamproc.serde.registry_client import RegistryClient, connect

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

MAGIC = 0
_HEADER = struct.Struct(">bI")
HEADER_SIZE = _HEADER.size

#: (topic, is_key, record full name or None) -> subject
SubjectStrategy = Callable[[str, bool, str | None], str]


def topic_name_strategy(topic: str, is_key: bool, record_name: str | None) -> str:
    """``<topic>-key`` / ``<topic>-value``: one schema lineage per topic (Confluent's default)."""
    return f"{topic}-key" if is_key else f"{topic}-value"


def record_name_strategy(topic: str, is_key: bool, record_name: str | None) -> str:
    """The record's full name: one lineage per record type, shared by every topic that carries it."""
    if record_name is None:
        raise SchemaError("the record name strategy needs a record schema")
    return record_name


def topic_record_name_strategy(topic: str, is_key: bool, record_name: str | None) -> str:
    """``<topic>-<record full name>``: several record types on one topic, each with its own lineage."""
    if record_name is None:
        raise SchemaError("the topic-record name strategy needs a record schema")
    return f"{topic}-{record_name}"


STRATEGIES: dict[str, SubjectStrategy] = {
    "topic": topic_name_strategy,
    "record": record_name_strategy,
    "topic_record": topic_record_name_strategy,
}
StrategyName = Literal["topic", "record", "topic_record"]


class ConfluentAvroSerde(SharesSchemasWhenCopied):
    """Avro values (or keys) whose schemas live in a Confluent-compatible Schema Registry.

    ``registry`` is the registry's URL (``mock://name`` for an in-process registry in tests), a dict of
    SchemaRegistryClient settings (``url``, ``basic.auth.user.info``, ``ssl.ca.location``...), or a
    client. ``schema`` is what this serde writes; it is registered under the subject the strategy
    names (``<topic>-value`` by default) on first use, or only looked up with ``auto_register=False``.

    Reading takes the writer schema from each record's id and resolves it to ``reader_schema``, so a
    consumer with a newer compatible schema reads old records (new fields get their defaults).
    ``reader_schema`` defaults to ``schema`` and ``schema`` to ``reader_schema``; with neither,
    records decode as their writers wrote them.
    """

    __slots__ = ("_auto_register", "_buffer", "_decoders", "_normalize", "_prefixes", "_registry", "_strategy",
                 "_strategy_name", "reader", "record_fields", "shape", "writer")

    def __init__(
        self,
        registry: str | Mapping[str, Any] | SchemaRegistryClient,
        schema: AvroSchema | None = None,
        *,
        reader_schema: AvroSchema | None = None,
        subject_strategy: StrategyName | SubjectStrategy = "topic",
        auto_register: bool = True,
        normalize_schemas: bool = False,
    ) -> None:
        self._registry: RegistryClient = connect(registry)
        writer = None if schema is None else load_schema(schema, "ConfluentAvroSerde schema")
        reader = None if reader_schema is None else load_schema(reader_schema, "ConfluentAvroSerde reader_schema")
        self.writer: ParsedSchema | None = writer or reader
        self.reader: ParsedSchema | None = reader or writer
        if isinstance(subject_strategy, str):
            if subject_strategy not in STRATEGIES:
                raise SchemaError(f"subject_strategy {subject_strategy!r} is not one of {sorted(STRATEGIES)}")
            self._strategy, self._strategy_name = STRATEGIES[subject_strategy], str(subject_strategy)
        else:
            self._strategy = subject_strategy
            self._strategy_name = str(getattr(subject_strategy, "__name__", "custom"))
        if self._strategy in (record_name_strategy, topic_record_name_strategy) and not (
            self.writer is None or self.writer.is_record
        ):
            raise SchemaError(f"subject_strategy {self._strategy_name!r} needs a record schema, got {self.writer.name}")
        self._auto_register = auto_register
        self._normalize = normalize_schemas
        self.shape: ValueShape = "any" if self.reader is None else self.reader.shape
        #: Field names of decoded records when the reader schema is a known record; DataclassSerde checks them.
        self.record_fields: tuple[str, ...] | None = None if self.reader is None else self.reader.record_fields
        self._decoders: dict[int, Decoder] = {}
        self._prefixes: dict[tuple[str, bool], bytes] = {}
        self._buffer = io.BytesIO()

    # --- writing ---------------------------------------------------------------------------------
    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        """``obj`` in the Confluent wire format: the magic byte, the schema id (registered on first use
        unless ``auto_register=False``), the Avro body."""
        if obj is None:
            return None
        prefix = self._prefixes.get((ctx.topic, ctx.is_key))
        if prefix is None:
            prefix = self._prefix(ctx.topic, ctx.is_key)
        writer = self.writer
        assert writer is not None  # _prefix raised otherwise
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        buffer.write(prefix)
        try:
            fastavro.schemaless_writer(buffer, writer.parsed, obj)
        except Exception:
            raise SerdeError(
                f"cannot encode {type(obj).__name__} as Avro {writer.name} for topic {ctx.topic!r}: "
                f"{writer.encode_error(obj)}"
            ) from None
        return buffer.getvalue()

    def register(self, topic: str, is_key: bool = False) -> int:
        """Register (or, without auto_register, look up) the writer schema for ``topic``; returns its id.

        Serializing does this on first use; call it to register at deploy time, or to fail early."""
        prefix = self._prefixes.get((topic, is_key)) or self._prefix(topic, is_key)
        return int(_HEADER.unpack_from(prefix)[1])

    def subject(self, topic: str, is_key: bool = False) -> str:
        """The subject this serde's schema is registered under for ``topic``."""
        return self._strategy(topic, is_key, self._writer_record_name())

    def _writer_record_name(self) -> str | None:
        return self.writer.name if self.writer is not None and self.writer.is_record else None

    def _prefix(self, topic: str, is_key: bool) -> bytes:
        writer = self.writer
        if writer is None:
            raise SerdeError(f"ConfluentAvroSerde on topic {topic!r} has no schema to write with; pass schema=...")
        subject = self.subject(topic, is_key)
        schema_id = self._registry.writer_id(subject, writer.text, self._auto_register, self._normalize, writer.name)
        prefix = _HEADER.pack(MAGIC, schema_id)
        self._prefixes[(topic, is_key)] = prefix
        if schema_id not in self._decoders:  # records this serde writes are read without asking the registry
            self._decoders[schema_id] = make_decoder(writer, self.reader)
        return prefix

    # --- reading ---------------------------------------------------------------------------------
    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        """A record in the Confluent wire format, resolved from its writer schema (fetched by id, once)
        to the reader schema."""
        if data is None:
            return None
        if len(data) < HEADER_SIZE or data[0] != MAGIC:
            raise SerdeError(_wire_format_error(data, ctx))
        schema_id = _HEADER.unpack_from(data)[1]
        decode = self._decoders.get(schema_id)
        if decode is None:
            decode = self._load(schema_id, ctx)
        fo = io.BytesIO(data)
        fo.seek(HEADER_SIZE)
        try:
            value = decode(fo)
        except Exception as exc:
            raise SerdeError(
                f"cannot decode Avro with schema id {schema_id} on topic {ctx.topic!r} ({len(data)} bytes"
                f"{self._resolving()}): {describe_read_error(exc)}"
            ) from exc
        if fo.tell() != len(data):
            raise SerdeError(
                f"cannot decode Avro with schema id {schema_id} on topic {ctx.topic!r}: {len(data) - fo.tell()} bytes "
                "left over after the value (the body was not written with that schema)"
            )
        return value

    def _resolving(self) -> str:
        return "" if self.reader is None else f", read as {self.reader.name}"

    def _load(self, schema_id: int, ctx: SerdeContext) -> Decoder:
        schema, named = self._registry.writer_schema(schema_id, ctx.topic)
        try:
            writer = ParsedSchema(json.loads(schema.schema_str or ""), named, what=f"schema id {schema_id}")
        except (SchemaError, ValueError) as exc:
            raise SerdeError(f"schema id {schema_id} on topic {ctx.topic!r} is not usable Avro: {exc}") from None
        decode = make_decoder(writer, self.reader)
        self._decoders[schema_id] = decode
        return decode

    def __repr__(self) -> str:
        parts = [self._registry.display]
        if self.writer is not None:
            parts.append(f"schema={self.writer.name}")
        if self.reader is not None and self.reader is not self.writer:
            parts.append(f"reader_schema={self.reader.name}")
        parts.append(f"subject_strategy={self._strategy_name}")
        if not self._auto_register:
            parts.append("auto_register=False")
        return f"ConfluentAvroSerde({', '.join(parts)})"


def _wire_format_error(data: bytes, ctx: SerdeContext) -> str:
    where = f"on topic {ctx.topic!r} ({'key' if ctx.is_key else 'value'})"
    if len(data) < HEADER_SIZE:
        return (f"not in the Confluent wire format {where}: {len(data)} bytes, fewer than the {HEADER_SIZE} of the "
                "magic byte and schema id")
    return (f"not in the Confluent wire format {where}: first byte 0x{data[0]:02x}, expected the magic byte 0x00 "
            "(written without a Schema Registry serializer?)")

