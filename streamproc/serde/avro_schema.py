"""Avro schemas for the Avro serdes: loaded and parsed once, and the per-message read and write calls.

Parsing happens when a serde is built, so a schema that does not parse fails the topology module at
import with a SchemaError, not the first message at run time.

Reading goes through fastavro's internal ``_read_data`` when it is there: ``schemaless_reader``
re-creates its named-schema tables and re-checks its arguments on every call, which is half the
cost of decoding a small record (about 2.5 µs of 4.8 µs for a five-field record). The internal
call is probed once at import against the public one, and the public one is used if the probe
fails, so a fastavro release that changes it costs speed, never correctness.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import fastavro
from fastavro.validation import ValidationError, validate

from streamproc.errors import SchemaError
from streamproc.serde.base import ValueShape

#: What a serde accepts as a schema: the parsed JSON (a dict, or a list for a union), Avro JSON text,
#: a primitive type name, or the path of an ``.avsc`` file.
AvroSchema = Mapping[str, Any] | list[Any] | str | Path

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})

Decoder = Callable[[io.BytesIO], Any]
_READ_OPTIONS: dict[str, Any] = {
    "return_record_name": False,
    "return_record_name_override": False,
    "handle_unicode_errors": "strict",
    "return_named_type": False,
    "return_named_type_override": False,
}


class ParsedSchema:
    """One Avro schema: its JSON (what a registry stores), fastavro's parsed form and its named types."""

    __slots__ = ("json", "name", "named", "parsed", "record_fields", "text")

    def __init__(self, schema_json: Any, named: dict[str, Any] | None = None, *, what: str = "Avro schema") -> None:
        self.json = schema_json
        self.named: dict[str, Any] = {} if named is None else named
        try:
            self.parsed: Any = fastavro.parse_schema(schema_json, self.named)
        except Exception as exc:
            raise SchemaError(f"{what} does not parse: {type(exc).__name__}: {exc}") from exc
        self.text = json.dumps(schema_json, separators=(",", ":"))
        parsed = self.parsed
        record: dict[str, Any] | None = parsed if isinstance(parsed, dict) and parsed.get("type") == "record" else None
        #: The record's full name, or the type name of a non-record schema (for messages and subject names).
        self.name: str = record["name"] if record is not None else _type_name(parsed)
        #: Field names of a record schema; None for any other schema.
        self.record_fields: tuple[str, ...] | None = (
            None if record is None else tuple(f["name"] for f in record["fields"])
        )

    @property
    def is_record(self) -> bool:
        return self.record_fields is not None

    @property
    def shape(self) -> ValueShape:
        """Records and maps decode to dicts; a union may decode to anything; every other type to a scalar or list."""
        parsed = self.parsed
        if isinstance(parsed, list):
            return "any"
        if isinstance(parsed, dict) and parsed.get("type") in ("record", "map"):
            return "mapping"
        return "scalar"

    def encode_error(self, obj: Any) -> str:
        """Why ``obj`` does not fit this schema, in fastavro's validator's words (called on failures only)."""
        if self.is_record and not isinstance(obj, Mapping):
            return f"record {self.name} needs a dict, got {type(obj).__name__}"
        try:
            validate(obj, self.parsed, raise_errors=True)
        except ValidationError as exc:
            return "; ".join(str(e) for e in exc.errors)[:500]
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        return "fastavro could not write it"


def _type_name(parsed: Any) -> str:
    if isinstance(parsed, str):
        return parsed
    if isinstance(parsed, list):
        return "union"
    if isinstance(parsed, dict):
        return str(parsed.get("name") or parsed.get("type"))
    return type(parsed).__name__


def load_schema(schema: AvroSchema, what: str = "Avro schema") -> ParsedSchema:
    """Parse ``schema`` (dict, list, JSON text, primitive name or ``.avsc`` path); SchemaError if it is unusable."""
    return ParsedSchema(schema_json(schema, what), what=what)


def schema_json(schema: AvroSchema, what: str = "Avro schema") -> Any:
    """The JSON value of a schema given in any accepted form."""
    if isinstance(schema, Path):
        return _read_file(schema, what)
    if isinstance(schema, Mapping):
        return dict(schema)
    if isinstance(schema, list):
        return list(schema)
    if isinstance(schema, str):
        text = schema.strip()
        if text[:1] in ("{", "[", '"'):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise SchemaError(f"{what} is not valid JSON: {exc}") from exc
        if text in PRIMITIVES:
            return text
        if Path(text).is_file():
            return _read_file(Path(text), what)
        raise SchemaError(
            f"{what} {schema[:80]!r} is neither Avro JSON, a primitive type nor the path of an existing .avsc file"
        )
    raise SchemaError(f"{what} must be a dict, JSON text or a .avsc path, not {type(schema).__name__}")


def _read_file(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"{what}: cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{what} in {path} is not valid JSON: {exc}") from exc


def make_decoder(writer: ParsedSchema, reader: ParsedSchema | None = None) -> Decoder:
    """A function reading one value written with ``writer`` from a BytesIO, resolved to ``reader`` if given.

    Resolution is skipped when both schemas are the same, which is the common case of a consumer that
    names the schema its producers use.
    """
    if reader is not None and reader.parsed == writer.parsed:
        reader = None
    if _read_data is None:
        writer_parsed = writer.parsed
        reader_parsed = None if reader is None else reader.parsed

        def public(fo: io.BytesIO) -> Any:
            return fastavro.schemaless_reader(fo, writer_parsed, reader_parsed)

        return public
    named = {"writer": writer.named, "reader": {} if reader is None else reader.named}
    args = (writer.parsed, named, None if reader is None else reader.parsed, _READ_OPTIONS)
    read_data = _read_data

    def internal(fo: io.BytesIO) -> Any:
        return read_data(fo, *args)

    return internal


def _probe_read_data() -> Callable[..., Any] | None:
    """fastavro's internal reader if it exists and decodes exactly as the public one does."""
    try:
        from fastavro._read import _read_data as candidate  # type: ignore[attr-defined]
    except ImportError:
        return None
    writer = {"type": "record", "name": "Probe", "fields": [
        {"name": "a", "type": "long"}, {"name": "b", "type": "string"}]}
    reader = {"type": "record", "name": "Probe", "fields": [
        {"name": "b", "type": "string"}, {"name": "c", "type": "int", "default": 7}]}
    data = b"\x04\x02x"
    try:
        named: dict[str, dict[str, Any]] = {"writer": {}, "reader": {}}
        parsed_writer = fastavro.parse_schema(writer, named["writer"])
        parsed_reader = fastavro.parse_schema(reader, named["reader"])
        got = candidate(io.BytesIO(data), parsed_writer, named, parsed_reader, _READ_OPTIONS)
        expected = fastavro.schemaless_reader(io.BytesIO(data), writer, reader)
    except Exception:
        return None
    return candidate if got == expected == {"b": "x", "c": 7} else None


_read_data = _probe_read_data()
