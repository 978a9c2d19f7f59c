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
        """``obj`` unchanged (``bytearray`` and ``memoryview`` as ``bytes``); anything else is a ``SerdeError``."""
        if obj is None or isinstance(obj, bytes):
            return obj
        if isinstance(obj, bytearray | memoryview):
            return bytes(obj)
        raise SerdeError(f"BytesSerde on topic {ctx.topic!r} needs bytes, got {type(obj).__name__}")

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        """``data`` unchanged."""
        return data


class StrSerde:
    """UTF-8 text (Kafka's StringSerializer)."""

    shape: ValueShape = "scalar"
    fast_decode = staticmethod(bytes.decode)
    fast_encode = staticmethod(str.encode)

    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        """A ``str`` as UTF-8; anything else is a ``SerdeError``."""
        if obj is None:
            return None
        if not isinstance(obj, str):
            raise SerdeError(f"StrSerde on topic {ctx.topic!r} needs str, got {type(obj).__name__}")
        return obj.encode()

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        """UTF-8 bytes as a ``str``; invalid UTF-8 is a ``SerdeError``."""
        if data is None:
            return None
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise SerdeError(f"not UTF-8 text on topic {ctx.topic!r}: {exc}") from exc


class _FixedWidthSerde:
    """A number packed with a fixed struct layout, as Kafka's own number serializers write it."""

    shape: ValueShape = "scalar"
    _layout: struct.Struct

    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        """The number in the class's fixed big-endian layout."""
        if obj is None:
            return None
        try:
            return self._layout.pack(obj)
        except struct.error as exc:
            raise SerdeError(f"{type(self).__name__} on topic {ctx.topic!r}: {exc}") from exc

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        """The number in ``data``; bytes of another length are a ``SerdeError``."""
        if data is None:
            return None
        if len(data) != self._layout.size:
            raise SerdeError(
                f"{type(self).__name__} on topic {ctx.topic!r} needs {self._layout.size} bytes, got {len(data)}"
            )
        return self._layout.unpack(data)[0]


class IntSerde(_FixedWidthSerde):
    """A signed 64-bit big-endian integer (Kafka's LongSerializer)."""

    _layout = _LONG


class FloatSerde(_FixedWidthSerde):
    """An IEEE 754 double, big-endian (Kafka's DoubleSerializer)."""

    _layout = _DOUBLE
