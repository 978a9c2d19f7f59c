"""Declaring a keyed store, and how its keys are laid out in every backend and the changelog."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from streamproc.errors import StateError, TopologyError
from streamproc.serde.base import Serde
from streamproc.serde.json import JsonSerde

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_KEY_LEN = struct.Struct(">H")

#: What ``Store(backend=...)`` accepts (state/backend.py maps each to its class).
BACKENDS = ("rocksdb", "memory", "windowed")
#: What ``Store(clock=...)`` accepts: the time a TTL is measured in (state/ttl.py).
TTL_CLOCKS = ("event", "wall")

#: Framework entries (dedupe marks) live under keys no length-prefixed user key can equal:
#: they start with the largest length prefix (0xFFFF) but are far shorter than such a key.
RESERVED_PREFIX = b"\xff\xff"
_MAX_RESERVED = 2 + 0xFFFF


@dataclass(frozen=True)
class Store:
    """A keyed store declared by a bolt (``stores = [Store("counts")]``).

    Keys are the tuple's key, encoded with ``key_serde``; values are encoded with ``value_serde``
    only at checkpoint time, so a hot key written a thousand times costs one encode.

    ``backend`` holds the committed data: ``"rocksdb"`` (default) keeps it on disk, so a restart
    restores only what the local copy lacks; ``"memory"`` keeps it in a dict, faster for small hot
    state but restored from the whole changelog at every assignment; ``"windowed"`` is RocksDB with keys laid
    out as (key, window start), the store of a WindowedBolt (streamproc.state.windowed). All are changelogged
    and exact.
    ``set()`` checks each value first (streamproc.state.values): by type for plain JSON values,
    otherwise by encoding it once.

    ``ttl`` (seconds) makes every entry expire once it has not been written for that long, measured
    on ``clock``: ``"event"`` (the task's stream time) or ``"wall"`` (the wall clock). See
    streamproc.state.ttl for what expiry promises; a store without ``ttl`` pays nothing for it.
    """

    name: str
    value_serde: Serde = field(default_factory=JsonSerde)
    key_serde: Serde = field(default_factory=JsonSerde)
    backend: str = "rocksdb"
    ttl: float | None = None
    clock: str = "event"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise TopologyError(f"store name {self.name!r} may only contain letters, digits, '.', '_' and '-'")
        if self.backend not in BACKENDS:
            raise TopologyError(f"store {self.name!r}: unknown backend {self.backend!r} (choose one of "
                                f"{', '.join(map(repr, BACKENDS))})")
        if self.ttl is not None and (type(self.ttl) not in (int, float) or not 0.001 <= self.ttl < 1e12):
            raise TopologyError(f"store {self.name!r}: ttl is a number of seconds, at least 0.001; got {self.ttl!r}")
        if self.clock not in TTL_CLOCKS:
            raise TopologyError(f"store {self.name!r}: unknown clock {self.clock!r} (choose 'event' or 'wall')")


def key_prefix(encoded_key: bytes) -> bytes:
    """The storage key of a tuple key's own value; its sub-keys extend it.

    A length prefix keeps every key's entries contiguous and unambiguous (no key is a prefix of
    another key's entries), which is what lets sub-keys, and later window keys, share one store.
    """
    size = len(encoded_key)
    if size > 0xFFFF:
        raise StateError(f"state key of {size} bytes is too long (at most 65535 when encoded)")
    return _KEY_LEN.pack(size) + encoded_key


def split_storage_key(storage_key: bytes) -> tuple[bytes, bytes]:
    """(encoded key, encoded sub-key or b"") of a storage key."""
    size = _KEY_LEN.unpack_from(storage_key)[0]
    return storage_key[2 : 2 + size], storage_key[2 + size :]


def reserved_key(name: str) -> bytes:
    """The storage key of a framework entry called ``name``."""
    key = RESERVED_PREFIX + name.encode()
    assert len(key) < _MAX_RESERVED
    return key


def is_reserved(storage_key: bytes) -> bool:
    """True for a framework entry (not shown to users, not counted as state)."""
    return storage_key.startswith(RESERVED_PREFIX) and len(storage_key) < _MAX_RESERVED
