"""The store API a bolt sees: values scoped to the key of the tuple being processed.

``state.get()`` / ``set()`` / ``delete()`` act on the key's own value; ``state[sub]`` and
``items()`` treat the key as a map of sub-keys (a per-user set of sessions, for instance).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from streamproc.components import CallbackContext
from streamproc.errors import StateError
from streamproc.serde.base import SerdeContext
from streamproc.state.partition import DELETED, MISSING, StorePartition
from streamproc.state.store import key_prefix, split_storage_key
from streamproc.state.ttl import TtlStorePartition
from streamproc.state.values import ValueCheck

if TYPE_CHECKING:
    from streamproc.components import Bolt


class KeyedState:
    """A store as one bolt sees it: every call acts on the key of the tuple being processed.

    Obtained with ``Bolt.state(name)`` inside ``process`` or ``flush``. Writes go to a write cache
    that reads see at once; they reach RocksDB and the changelog at the next checkpoint, encoded with
    the store's ``value_serde`` then. A tuple without a key cannot use state (``StateError``).
    """

    __slots__ = ("_cache", "_check", "_ctx", "_owner", "_part", "_plain", "_prefixes", "name")

    #: Encoded prefixes kept per str/bytes key: a hot key is encoded once, not at every get and set.
    #: Only str and bytes keys are cached: 1, 1.0 and True are equal dict keys in Python but encode
    #: (and so are stored) differently, while a str or bytes key never equals a key of another type.
    CACHED_KEYS = 65536

    def __init__(self, owner: Bolt, part: StorePartition) -> None:
        self.name = part.spec.name
        self._owner = owner
        self._part = part
        #: The partition's write cache, read and written here directly on the hot path (the dict is
        #: cleared at checkpoints, never replaced). Misses and deletes go through the partition.
        self._cache = part.write_cache
        self._ctx = SerdeContext(part.changelog, is_key=True)
        self._prefixes: dict[Any, bytes] = {}
        #: A value is checked when set, so that one the store cannot keep fails its record, not the checkpoint.
        self._check = ValueCheck(part.spec, SerdeContext(part.changelog, is_key=False))
        self._plain = self._check.plain

    def _prefix(self) -> bytes:
        try:
            return self._prefixes[self._owner._current.key]  # type: ignore[union-attr]
        except (KeyError, AttributeError, TypeError):  # not cached, no tuple, or an unhashable key
            return self._encode_current()

    def _encode_current(self) -> bytes:
        current = self._owner._current
        if current is None:
            raise StateError(f"store {self.name!r} used outside process(): there is no current tuple; "
                             f"pass the key: self.state({self.name!r}, key=...)")
        key = current.key
        if key is None and isinstance(current, CallbackContext):
            raise StateError(f"store {self.name!r} used in flush(), where there is no current key; "
                             f"pass the key: self.state({self.name!r}, key=...)")
        if key is None:
            raise StateError(
                f"store {self.name!r} needs a keyed tuple but the tuple from {current.source!r} has key None; "
                "use a fields grouping or emit(..., key=...) upstream"
            )
        prefix = self._encode(key)
        if type(key) is str or type(key) is bytes:
            if len(self._prefixes) >= self.CACHED_KEYS:
                self._prefixes.clear()
            self._prefixes[key] = prefix
        return prefix

    def _encode(self, key: Any) -> bytes:
        encoded = self._part.spec.key_serde.serialize(key, self._ctx)
        assert encoded is not None
        return key_prefix(encoded)

    def for_key(self, key: Any) -> KeyedState:
        """The same store scoped to ``key`` rather than to the current tuple's key."""
        if key is None:
            raise StateError(f"store {self.name!r}: the key given is None")
        return _FixedKeyState(self._owner, self._part, self._encode(key))

    def _sub(self, sub: Any) -> bytes:
        encoded = self._part.spec.key_serde.serialize(sub, self._ctx)
        if not encoded:
            raise StateError(f"store {self.name!r}: sub-key {sub!r} encodes to nothing")
        return self._prefix() + encoded

    # --- the key's own value ---------------------------------------------------------------------
    # get and set repeat _prefix's cached lookup inline: they run for nearly every stateful message.
    def get(self, default: Any = None) -> Any:
        """The key's own value, or ``default`` when it has none."""
        try:
            prefix = self._prefixes[self._owner._current.key]  # type: ignore[union-attr]
        except (KeyError, AttributeError, TypeError):  # not cached, no tuple, or an unhashable key
            prefix = self._encode_current()
        value = self._cache.get(prefix, MISSING)
        if value is MISSING or value is DELETED:
            value = self._part.get(prefix)
        return default if value is MISSING else value

    def set(self, value: Any) -> None:
        """Set the key's own value. The object is kept by reference until the checkpoint encodes it."""
        try:
            prefix = self._prefixes[self._owner._current.key]  # type: ignore[union-attr]
        except (KeyError, AttributeError, TypeError):  # not cached, no tuple, or an unhashable key
            prefix = self._encode_current()
        # The common cases, a small int or a finite float, judged inline: a call would cost more than the
        # check. The int bounds are those CPython compares fastest (one 30-bit digit); others take check().
        t = type(value)
        if not (self._plain and ((t is int and -0x3FFFFFFF <= value <= 0x3FFFFFFF)
                                 or (t is float and value - value == 0.0))):
            self._check.check(value)
        self._cache[prefix] = value

    def delete(self) -> None:
        """Delete the key's own value (a tombstone in the changelog); its sub-keys stay."""
        self._part.delete(self._prefix())

    def update(self, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Replace the value with ``fn(old)`` (``default`` when absent) and return the new value."""
        prefix = self._prefix()
        old = self._part.get(prefix)
        new = fn(default if old is MISSING else old)
        self._check.check(new)
        self._part.put(prefix, new)
        return new

    # --- the key as a map of sub-keys -------------------------------------------------------------
    def get_item(self, sub: Any, default: Any = None) -> Any:
        """The value of sub-key ``sub`` of the key, or ``default`` (``state[sub]`` raises KeyError instead)."""
        value = self._part.get(self._sub(sub))
        return default if value is MISSING else value

    def set_item(self, sub: Any, value: Any) -> None:
        """Set sub-key ``sub`` of the key (``state[sub] = value``)."""
        self._check.check(value)
        self._part.put(self._sub(sub), value)

    def delete_item(self, sub: Any) -> None:
        """Delete sub-key ``sub`` of the key (``del state[sub]``)."""
        self._part.delete(self._sub(sub))

    def items(self) -> Iterator[tuple[Any, Any]]:
        """(sub-key, value) pairs of the current key, in encoded sub-key order."""
        deserialize = self._part.spec.key_serde.deserialize
        for storage_key, value in self._part.iter_prefix(self._prefix()):
            _, sub = split_storage_key(storage_key)
            yield deserialize(sub, self._ctx), value

    def __getitem__(self, sub: Any) -> Any:
        value = self._part.get(self._sub(sub))
        if value is MISSING:
            raise KeyError(sub)
        return value

    def __setitem__(self, sub: Any, value: Any) -> None:
        self.set_item(sub, value)

    def __delitem__(self, sub: Any) -> None:
        self.delete_item(sub)

    def __contains__(self, sub: Any) -> bool:
        return self._part.get(self._sub(sub)) is not MISSING


class _FixedKeyState(KeyedState):
    """A KeyedState scoped to one given key (``Bolt.state(name, key=...)``), whatever the current tuple."""

    __slots__ = ("_fixed",)

    def __init__(self, owner: Bolt, part: StorePartition, prefix: bytes) -> None:
        super().__init__(owner, part)
        self._fixed = prefix

    def _prefix(self) -> bytes:
        return self._fixed

    def get(self, default: Any = None) -> Any:
        value = self._part.get(self._fixed)
        return default if value is MISSING else value

    def set(self, value: Any) -> None:
        self._part.put(self._fixed, value)


class _TtlState(KeyedState):
    """A KeyedState of a store with ``ttl`` (streamproc.state.ttl): each value set records its write time beside
    the write cache, and a read hides an expired one. A subclass, so that other stores run none of it; get and set
    repeat KeyedState's inline paths for the same reason as there."""

    __slots__ = ("_now", "_ttl_ms", "_written")

    def __init__(self, owner: Bolt, part: TtlStorePartition) -> None:
        super().__init__(owner, part)
        self._written = part.written
        self._ttl_ms = part.ttl_ms
        self._now = part.now  # the task binds the store's clock before its bolts get their states

    def get(self, default: Any = None) -> Any:
        try:
            prefix = self._prefixes[self._owner._current.key]  # type: ignore[union-attr]
        except (KeyError, AttributeError, TypeError):
            prefix = self._encode_current()
        value = self._cache.get(prefix, MISSING)
        if value is MISSING or value is DELETED:
            value = self._part.get(prefix)  # the committed value, judged by its stored write time
        elif self._written[prefix] + self._ttl_ms <= self._now():
            return default
        return default if value is MISSING else value

    def set(self, value: Any) -> None:
        try:
            prefix = self._prefixes[self._owner._current.key]  # type: ignore[union-attr]
        except (KeyError, AttributeError, TypeError):
            prefix = self._encode_current()
        t = type(value)
        if not (self._plain and ((t is int and -0x3FFFFFFF <= value <= 0x3FFFFFFF)
                                 or (t is float and value - value == 0.0))):
            self._check.check(value)
        self._cache[prefix] = value
        self._written[prefix] = self._now()


def keyed_state(owner: Bolt, part: StorePartition) -> KeyedState:
    """The KeyedState a bolt gets for ``part``: the TTL-aware one for a store with ``ttl``."""
    return _TtlState(owner, part) if isinstance(part, TtlStorePartition) else KeyedState(owner, part)
