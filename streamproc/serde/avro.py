"""Avro without a registry: every record is the bare Avro body of one schema both sides agree on.

Compact and fast, and a good fit for state stores and internal topics, where this topology is both
writer and reader. For topics shared with other applications prefer ConfluentAvroSerde, whose
records name their schema.
"""

from __future__ import annotations

import copy
import io
import re
from typing import Any

import fastavro

from streamproc.errors import SerdeError
from streamproc.serde.avro_schema import AvroSchema, ParsedSchema, load_schema, make_decoder
from streamproc.serde.base import SerdeContext, ValueShape


class SharesSchemasWhenCopied:
    """Bolts are deep-copied per task: the copies share the parsed schemas and caches (and a registry
    client, which cannot be copied), and get a write buffer of their own."""

    _buffer: io.BytesIO

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        clone = copy.copy(self)
        clone._buffer = io.BytesIO()
        return clone


class AvroSerde(SharesSchemasWhenCopied):
    """Schemaless Avro of one ``schema``: a dict, Avro JSON text or the path of an ``.avsc`` file.

    The schema is parsed here, once: one that does not parse raises SchemaError (a TopologyError) when
    the topology module is imported. Record schemas decode to dicts (``shape`` "mapping"), so fields
    groupings can use their fields. Without a registry, nothing on the wire says which schema wrote a
    record, so both sides must use the same one; for evolving schemas use ConfluentAvroSerde.
    """

    __slots__ = ("_buffer", "_decode", "record_fields", "shape", "writer")

    def __init__(self, schema: AvroSchema) -> None:
        self.writer: ParsedSchema = load_schema(schema, "AvroSerde schema")
        self._decode = make_decoder(self.writer)
        #: Field names of decoded records (None for a non-record schema); DataclassSerde checks them.
        self.record_fields: tuple[str, ...] | None = self.writer.record_fields
        self.shape: ValueShape = self.writer.shape
        self._buffer = io.BytesIO()

    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        """``obj`` as the bare Avro body of the writer schema; a value that does not fit it is a
        ``SerdeError`` naming the field."""
        if obj is None:
            return None
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        try:
            fastavro.schemaless_writer(buffer, self.writer.parsed, obj)
        except Exception:
            raise SerdeError(
                f"cannot encode {type(obj).__name__} as Avro {self.writer.name} for topic {ctx.topic!r}: "
                f"{self.writer.encode_error(obj)}"
            ) from None
        return buffer.getvalue()

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        """The value of a bare Avro body written with the same schema (a dict for a record); leftover
        or truncated bytes are a ``SerdeError``."""
        if data is None:
            return None
        fo = io.BytesIO(data)
        try:
            value = self._decode(fo)
        except Exception as exc:
            raise SerdeError(
                f"not valid Avro {self.writer.name} on topic {ctx.topic!r} ({len(data)} bytes): "
                f"{describe_read_error(exc)}"
            ) from exc
        if fo.tell() != len(data):
            raise SerdeError(
                f"not valid Avro {self.writer.name} on topic {ctx.topic!r}: {len(data) - fo.tell()} bytes left over "
                f"after the value (written with another schema, or not Avro?)"
            )
        return value

    def __repr__(self) -> str:
        return f"AvroSerde({self.writer.name})"


_OBJECT_REPR = re.compile(r" from <[^>]* at 0x[0-9a-f]+>")


def describe_read_error(exc: Exception) -> str:
    """fastavro's read errors in words: an (often empty) EOFError means the bytes ran out mid-value."""
    text = _OBJECT_REPR.sub("", str(exc))
    if isinstance(exc, EOFError | StopIteration):
        detail = f" ({text})" if text else ""
        return f"truncated or corrupt body: the bytes ran out before the value ended{detail}"
    return f"{type(exc).__name__}: {text}"
