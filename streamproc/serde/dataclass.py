"""Records as instances of the user's dataclass, on top of a codec that reads and writes dicts.

The mapping between the class and dicts is worked out once, when the serde is built: which fields
hold nested dataclasses (also inside ``X | None``, ``list[X]`` and ``dict[str, X]``), and, when the
codec knows its record's fields (an Avro record schema), whether the class fits the schema. Per
message it is one constructor call, plus one per nested dataclass.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypeVar

import orjson

from streamproc.errors import SchemaError, SerdeError, TopologyError
from streamproc.serde.base import Serde, SerdeContext, ValueShape
from streamproc.serde.json import JsonSerde

T = TypeVar("T")
Convert = Callable[[Any], Any]


class DataclassSerde(Generic[T]):
    """Values of dataclass ``cls``, encoded by ``codec``: ``"json"`` (orjson) or a serde producing dicts,
    such as AvroSerde or ConfluentAvroSerde.

    ``shape`` is "scalar": a fields grouping reads dict fields, which an object does not have, so a
    topology that groups a dataclass stream by fields fails when built, not per message. Key the
    records instead, or emit dicts from a bolt.
    """

    shape: ValueShape = "scalar"

    def __init__(self, cls: type[T], codec: Literal["json"] | Serde = "json") -> None:
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise TopologyError(f"DataclassSerde needs a dataclass type, got {cls!r}")
        self.cls = cls
        if codec == "json":
            self.codec: Serde = JsonSerde()
        elif isinstance(codec, Serde):
            self.codec = codec
        else:
            raise TopologyError(f"DataclassSerde codec must be 'json' or a serde, got {codec!r}")
        self._json = isinstance(self.codec, JsonSerde)
        self._build = _builder(cls)
        self._dump = _dumper(cls)
        record_fields: tuple[str, ...] | None = getattr(self.codec, "record_fields", None)
        if record_fields is not None:
            _check_fits(cls, record_fields, self.codec)

    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        """An instance of the dataclass, written by the codec; another type is a ``SerdeError``."""
        if obj is None:
            return None
        if not isinstance(obj, self.cls):
            raise SerdeError(f"DataclassSerde({self.cls.__name__}) on topic {ctx.topic!r} got {type(obj).__name__}")
        if self._json:  # orjson writes dataclasses, nested ones included, natively
            try:
                return orjson.dumps(obj)
            except TypeError as exc:
                raise SerdeError(f"cannot encode {self.cls.__name__} as JSON for topic {ctx.topic!r}: {exc}") from exc
        return self.codec.serialize(self._dump(obj), ctx)

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        """An instance of the dataclass; a record with unknown or missing fields is a ``SerdeError`` naming them."""
        if data is None:
            return None
        record = self.codec.deserialize(data, ctx)
        try:
            return self._build(record)
        except _Mismatch as exc:
            raise SerdeError(f"record on topic {ctx.topic!r} does not fit {exc}") from None

    def __repr__(self) -> str:
        return f"DataclassSerde({self.cls.__name__}, {self.codec!r})"


class _Mismatch(Exception):
    """A decoded record that does not fit a dataclass; the message names the class and the fields."""


def _check_fits(cls: type, record_fields: tuple[str, ...], codec: Serde) -> None:
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = {f.name for f in fields}
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    unknown = [name for name in record_fields if name not in names]
    missing = [name for name in required if name not in record_fields]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"the schema's fields {unknown} are not fields of {cls.__name__}")
        if missing:
            problems.append(f"{cls.__name__}'s fields {missing} have no default and are not in the schema")
        raise SchemaError(f"DataclassSerde({cls.__name__}, {codec!r}): {'; '.join(problems)}")


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:
        raise TopologyError(f"DataclassSerde cannot resolve the field types of {cls.__name__}: {exc}") from exc


def _field_converters(cls: type, convert_for: Callable[[Any], Convert | None]) -> dict[str, Convert]:
    hints = _hints(cls)
    found: dict[str, Convert] = {}
    for field in dataclasses.fields(cls):
        convert = convert_for(hints.get(field.name, Any))
        if convert is not None:
            found[field.name] = convert
    return found


def _container(tp: Any, convert_for: Callable[[Any], Convert | None]) -> Convert | None:
    """A converter for ``X | None``, ``list[X]`` or ``dict[str, X]`` when X needs one; None otherwise."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        convert = convert_for(inner[0]) if len(inner) == 1 else None
        return None if convert is None else (lambda v: None if v is None else convert(v))
    if origin is list and args:
        item = convert_for(args[0])
        return None if item is None else (lambda v: [item(x) for x in v])
    if origin is dict and len(args) == 2:
        value = convert_for(args[1])
        return None if value is None else (lambda v: {k: value(x) for k, x in v.items()})
    return None


def _memoized(cls: type, memo: dict[type, Convert | None]) -> Convert | None:
    """The converter already made for ``cls``; one that defers to it while it is being made (a class that
    contains itself, e.g. a tree); or None when ``cls`` has not been seen."""
    if cls not in memo:
        return None
    done = memo[cls]
    return done if done is not None else (lambda v: memo[cls](v))  # type: ignore[misc]


def _builder(cls: type, memo: dict[type, Convert | None] | None = None) -> Convert:
    """dict -> instance of ``cls``, nested dataclasses included."""
    memo = {} if memo is None else memo
    memo[cls] = None

    def convert_for(tp: Any) -> Convert | None:
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return _memoized(tp, memo) or _builder(tp, memo)
        return _container(tp, convert_for)

    nested = _field_converters(cls, convert_for)

    def build(record: Any) -> Any:
        if not isinstance(record, Mapping):
            raise _Mismatch(f"{cls.__name__}: expected a record, got {type(record).__name__}")
        if nested:
            record = dict(record)
            for name, convert in nested.items():
                if name in record:
                    record[name] = convert(record[name])
        try:
            return cls(**record)
        except TypeError as exc:
            raise _Mismatch(_describe_mismatch(cls, record, exc)) from None

    memo[cls] = build
    return build


def _dumper(cls: type, memo: dict[type, Convert | None] | None = None) -> Convert:
    """instance of ``cls`` -> dict, nested dataclasses included."""
    memo = {} if memo is None else memo
    memo[cls] = None

    def convert_for(tp: Any) -> Convert | None:
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return _memoized(tp, memo) or _dumper(tp, memo)
        return _container(tp, convert_for)

    names = tuple(f.name for f in dataclasses.fields(cls))
    nested = _field_converters(cls, convert_for)

    def dump(obj: Any) -> dict[str, Any]:
        record = {name: getattr(obj, name) for name in names}
        for name, convert in nested.items():
            record[name] = convert(record[name])
        return record

    memo[cls] = dump
    return dump


def _describe_mismatch(cls: type, record: Mapping[str, Any], exc: TypeError) -> str:
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = {f.name for f in fields}
    unknown = sorted(str(k) for k in record if k not in names)
    missing = [f.name for f in fields if f.name not in record
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if unknown or missing:
        parts = ([f"unknown fields {unknown}"] if unknown else []) + ([f"missing fields {missing}"] if missing else [])
        return f"{cls.__name__}: {', '.join(parts)}"
    return f"{cls.__name__}: {exc}"
