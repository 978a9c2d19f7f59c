"""Serdes for plain values: bytes, UTF-8 text, and numbers in the layout of Kafka's own serializers."""

from __future__ import annotations

import struct
from typing import Any

from streamproc.errors import SerdeError
from streamproc.serde.base import SerdeContext, ValueShape

_LONG = struct.Struct(">q")
_DOUBLE = struct.Struct(">d")


class BytesSerde:
    """Passes bytes through untouched; the default for spouts, so nothing is decoded by surprise."""

    shape: ValueShape = "scalar"

    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        if obj is None or isinstance(obj, bytes):
            return obj
        if isinstance(obj, bytearray | memoryview):
            return bytes(obj)
        raise SerdeError(f"BytesSerde on topic {ctx.topic!r} needs bytes, got {type(obj).__name__}")

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        return data


class StrSerde:
    """UTF-8 text (Kafka's StringSerializer)."""

    shape: ValueShape = "scalar"

    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        if obj is None:
            return None
        if not isinstance(obj, str):
            raise SerdeError(f"StrSerde on topic {ctx.topic!r} needs str, got {type(obj).__name__}")
        return obj.encode()

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        if data is None:
            return None
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise SerdeError(f"not UTF-8 text on topic {ctx.topic!r}: {exc}") from exc


class IntSerde:
    """A signed 64-bit big-endian integer (Kafka's LongSerializer)."""

    shape: ValueShape = "scalar"

    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        if obj is None:
            return None
        try:
            return _LONG.pack(obj)
        except struct.error as exc:
            raise SerdeError(f"IntSerde on topic {ctx.topic!r}: {exc}") from exc

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        if data is None:
            return None
        if len(data) != 8:
            raise SerdeError(f"IntSerde on topic {ctx.topic!r} needs 8 bytes, got {len(data)}")
        return _LONG.unpack(data)[0]


class FloatSerde:
    """An IEEE 754 double, big-endian (Kafka's DoubleSerializer)."""

    shape: ValueShape = "scalar"

    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        if obj is None:
            return None
        try:
            return _DOUBLE.pack(obj)
        except struct.error as exc:
            raise SerdeError(f"FloatSerde on topic {ctx.topic!r}: {exc}") from exc

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        if data is None:
            return None
        if len(data) != 8:
            raise SerdeError(f"FloatSerde on topic {ctx.topic!r} needs 8 bytes, got {len(data)}")
        return _DOUBLE.unpack(data)[0]
