"""The serde protocol shared by spouts, sinks, internal topics and state stores.

A serde converts between bytes on the wire and Python objects. The context tells it where the
bytes live (topic, key or value), which a schema-registry serde needs to pick its subject. The
runtime builds one context per (topic, key/value) and reuses it, so serdes must not keep it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

Headers = list[tuple[str, bytes | None]]

#: What a serde's decoded values look like, so that a topology can be validated before it runs:
#: "mapping" values have named fields (a fields grouping can use them), "scalar" values never do,
#: "any" cannot be known until run time.
ValueShape = Literal["mapping", "scalar", "any"]


class SerdeContext:
    """Where the bytes being (de)serialized live."""

    __slots__ = ("headers", "is_key", "topic")

    def __init__(self, topic: str, is_key: bool, headers: Headers | None = None) -> None:
        self.topic = topic
        self.is_key = is_key
        self.headers = headers

    def __repr__(self) -> str:
        return f"SerdeContext(topic={self.topic!r}, is_key={self.is_key})"


@runtime_checkable
class Serde(Protocol):
    """Turns objects into bytes and back. ``None`` stays ``None`` (a null key or a tombstone).

    A serde may also offer ``fast_decode(data) -> obj`` and ``fast_encode(obj) -> bytes``: C-level
    callables without context that the hot path calls directly for non-None data. When one raises,
    the runtime calls ``deserialize``/``serialize``, so error messages stay the serde's own.
    """

    shape: ValueShape

    def serialize(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        """The bytes of ``obj`` for the topic, key or value that ``ctx`` names; ``None`` for ``None``.

        Raises ``SerdeError`` (with a message naming the topic) for an object it cannot encode.
        """
        ...

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        """The object ``data`` encodes; ``None`` for ``None``.

        Raises ``SerdeError`` for bytes it cannot decode: the error policy (``--on-error``) then
        decides what becomes of the message.
        """
        ...


def fast_decoder(serde: Serde) -> Callable[[bytes], Any] | None:
    fast: Callable[[bytes], Any] | None = getattr(serde, "fast_decode", None)
    return fast


def fast_encoder(serde: Serde) -> Callable[[Any], bytes] | None:
    fast: Callable[[Any], bytes] | None = getattr(serde, "fast_encode", None)
    return fast
