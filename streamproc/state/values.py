"""Checking a state value when it is set, so that a value the store cannot keep fails its record.

A value the store's serde cannot encode (a set, an int beyond 64 bits for JSON) used to fail only
at the checkpoint, where no record owns the failure: the worker restarted and failed again, forever.
A value the serde would silently change (``inf`` and ``nan`` become JSON ``null``) was stored as
something else. Checking at ``set()`` makes either one an error of the record being processed,
which then follows ``--on-error``.

The check must cost next to nothing for the values nearly every stateful bolt stores: for the
default JSON serde, an exact int in 64-bit range, a finite float, an ASCII str, a bool or None is
accepted by its type alone. Anything else is encoded once with the store's serde to see that it
can be; the bytes are not kept, because a value may still be changed in place before the
checkpoint (the write cache holds the object).

The encoded value must also fit in a changelog record: the producer refuses a record larger than
its ``message.max.bytes``, and a checkpoint must never be the first place that is found. The
worker's Output sets that limit here (``set_record_limit``) when it creates the producer.
"""

from __future__ import annotations

from typing import Any

import orjson

from streamproc.errors import SerdeError
from streamproc.serde.base import SerdeContext
from streamproc.serde.json import JsonSerde, has_non_finite
from streamproc.state.store import Store

#: orjson encodes ints from -2**63 to 2**64 - 1.
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
#: Room left in a changelog record for its key, headers and the record's framing.
_HEADROOM = 8192
_limit = 1_000_000  # librdkafka's default message.max.bytes
#: An ASCII str shorter than this is accepted unmeasured: even all escapes (6 bytes a character) fit.
_short_str = 65536


def set_record_limit(max_bytes: int) -> None:
    """The producer's ``message.max.bytes``: a state value must encode to less (see the module docstring)."""
    global _limit, _short_str
    _limit = max_bytes
    _short_str = max(0, min(65536, (max_bytes - _HEADROOM) // 6 - 2))


class ValueCheck:
    """``check(value)`` raises SerdeError naming the store when ``value`` cannot be kept; ``plain``
    says whether the type-only fast path (see ``is_plain``) is valid for this store's serde."""

    __slots__ = ("_ctx", "_serialize", "name", "plain")

    def __init__(self, spec: Store, ctx: SerdeContext) -> None:
        self.name = spec.name
        self.plain = type(spec.value_serde) is JsonSerde
        self._serialize = spec.value_serde.serialize
        self._ctx = ctx

    def check(self, value: Any) -> None:
        if self.plain:
            t = type(value)
            if t is dict or t is list:  # aggregates: orjson directly, without the serde's Python wrapper
                try:
                    raw = orjson.dumps(value)
                except TypeError:
                    pass  # the serde's call below says why, in its words
                else:
                    if len(raw) <= _limit - _HEADROOM and (b"null" not in raw or not has_non_finite(value)):
                        return
            elif is_plain(value):
                return
        try:
            encoded = self._serialize(value, self._ctx)
        except SerdeError as exc:
            raise SerdeError(f"store {self.name!r} cannot keep this {type(value).__name__} value: {exc}") from None
        except Exception as exc:  # a serde that raises something else is just as unable to keep it
            raise SerdeError(f"store {self.name!r} cannot keep this {type(value).__name__} value: "
                             f"{type(exc).__name__}: {exc}") from None
        if encoded is not None and len(encoded) > _limit - _HEADROOM:
            raise SerdeError(f"store {self.name!r} cannot keep this {type(value).__name__} value: it encodes to "
                             f"{len(encoded):,} bytes, and a changelog record must stay under the producer's "
                             f"message.max.bytes ({_limit:,}) less {_HEADROOM:,} for its key and headers")


def is_plain(value: Any) -> bool:
    """True for the values JSON keeps exactly, judged by exact type (subclasses take the slow path)."""
    t = type(value)
    return ((t is int and INT_MIN <= value <= INT_MAX) or (t is float and value - value == 0.0)
            or (t is str and len(value) < _short_str and value.isascii()) or t is bool or value is None)
