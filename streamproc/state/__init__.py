"""Keyed state: a write cache per checkpoint over a backend (RocksDB or memory) per (store, partition),
mirrored to compacted changelogs."""

from streamproc.state.keyed import KeyedState
from streamproc.state.store import Store

__all__ = ["KeyedState", "Store"]
