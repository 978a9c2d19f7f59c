"""The write cache and keyed state over a real RocksDB directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamproc import Bolt, Store, Tuple
from streamproc.errors import StateError
from streamproc.state.keyed import KeyedState
from streamproc.state.partition import MISSING, StorePartition
from streamproc.state.rocksdb import LocalDB
from streamproc.state.store import key_prefix


class Owner(Bolt):
    def process(self, tup: Tuple) -> None:
        pass


def at(owner: Bolt, key: Any) -> None:
    owner._current = Tuple(key, None, "t", 0, 0, None, None, "default", "x")


@pytest.fixture
def store(tmp_path: Path) -> StorePartition:
    return StorePartition(Store("s"), tmp_path / "s" / "0", "top-s-changelog", 0)


def staged(part: StorePartition) -> list[tuple[str, bytes, bytes | None, int]]:
    sent: list[tuple[str, bytes, bytes | None, int]] = []
    part.stage_changelog(lambda topic, key, value, partition, cb: sent.append((topic, key, value, partition)))
    return sent


def test_reads_see_uncommitted_writes_and_one_record_per_dirty_key(store: StorePartition) -> None:
    key = key_prefix(b'"a"')
    for n in range(1, 101):
        store.put(key, n)
        assert store.get(key) == n
    store.put(key_prefix(b'"b"'), 1)
    store.delete(key_prefix(b'"b"'))
    assert store.get(key_prefix(b'"b"')) is MISSING
    records = staged(store)
    assert records == [
        ("top-s-changelog", key, b"100", 0),
        ("top-s-changelog", key_prefix(b'"b"'), None, 0),  # a delete is a tombstone
    ]
    store.commit_local({("in", 0): 42})
    assert store.dirty_count == 0
    assert store.get(key) == 100
    assert store.db.source_offsets() == {"in:0": 42}


def test_discard_drops_uncommitted_writes(store: StorePartition) -> None:
    key = key_prefix(b'"a"')
    store.put(key, 1)
    staged(store)
    store.commit_local({})
    store.put(key, 2)
    store.discard()
    assert store.get(key) == 1


def test_keyed_state_is_scoped_to_the_current_key(store: StorePartition) -> None:
    owner = Owner()
    state = KeyedState(owner, store)
    at(owner, "alice")
    state.set(1)
    state["sessions"] = 3
    state.set_item("clicks", 5)
    at(owner, "bob")
    assert state.get() is None and state.get(7) == 7
    assert "sessions" not in state
    state.update(lambda old: old + 10, default=0)
    assert state.get() == 10
    at(owner, "alice")
    assert state.get() == 1 and state["sessions"] == 3
    assert sorted(state.items()) == [("clicks", 5), ("sessions", 3)]
    staged(store)
    store.commit_local({})
    del state["sessions"]
    assert list(state.items()) == [("clicks", 5)]  # merges RocksDB with the cache's delete
    state.delete()
    assert state.get() is None and state.get_item("clicks") == 5
    with pytest.raises(KeyError):
        state["sessions"]


def test_keyed_state_needs_a_key(store: StorePartition) -> None:
    owner = Owner()
    state = KeyedState(owner, store)
    with pytest.raises(StateError, match="outside process"):
        state.get()
    at(owner, None)
    with pytest.raises(StateError, match="has key None"):
        state.set(1)


def test_closed_store_can_be_reopened_at_once(tmp_path: Path) -> None:
    db = LocalDB(tmp_path / "db", lock_timeout=1)
    db.write([(b"k", b"v")], {})
    db.close()
    again = LocalDB(tmp_path / "db", lock_timeout=1)
    assert again.get(b"k") == b"v"
    with pytest.raises(StateError, match="locked by another process"):
        LocalDB(tmp_path / "db", lock_timeout=0.3)
    again.close()


def test_corrupt_directory_is_discarded(tmp_path: Path) -> None:
    db = LocalDB(tmp_path / "db")
    db.write([(b"k", b"v")], {})
    db.close()
    for path in (tmp_path / "db").iterdir():
        if path.name.startswith(("CURRENT", "MANIFEST")):
            path.write_bytes(b"garbage")
    rebuilt = LocalDB(tmp_path / "db")
    assert rebuilt.get(b"k") is None
    assert rebuilt.changelog_offset() is None
    rebuilt.close()


def test_keys_equal_in_python_but_encoded_differently_are_distinct(store: StorePartition) -> None:
    """1, True and 1.0 are one dict key in Python but three JSON keys; state must keep them apart."""
    owner = Owner()
    state = KeyedState(owner, store)
    for key in [1, True, 1.0, 1, True, "1"]:
        at(owner, key)
        state.set(state.get(0) + 1)
    values = {}
    for key in [1, True, 1.0, "1"]:
        at(owner, key)
        values[repr(key)] = state.get()
    assert values == {"1": 2, "True": 2, "1.0": 1, "'1'": 1}
