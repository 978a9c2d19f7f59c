"""Keyed state: RocksDB per (store, partition), a write cache per checkpoint, compacted changelogs."""

from streamproc.state.keyed import KeyedState
from streamproc.state.store import Store

__all__ = ["KeyedState", "Store"]
