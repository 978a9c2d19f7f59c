"""The write cache and keyed state over each backend (a real RocksDB directory, and the memory backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamproc import Bolt, Store, Tuple
from streamproc.errors import StateError
from streamproc.names import Names
from streamproc.runtime.dedupe import MARKS_KEY
from streamproc.state.keyed import KeyedState
from streamproc.state.partition import MISSING, StorePartition, open_partition, prefix_end
from streamproc.state.position import Position
from streamproc.state.rocksdb import RocksDBBackend
from streamproc.state.store import key_prefix, reserved_key


class Owner(Bolt):
    def process(self, tup: Tuple) -> None:
        pass


def at(owner: Bolt, key: Any) -> None:
    owner._current = Tuple(key, None, "t", 0, 0, None, None, "default", "x")


@pytest.fixture(params=["rocksdb", "memory", "windowed"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorePartition]:
    part = open_partition(Store("s", backend=request.param), tmp_path, Names("top"), 0)
    yield part
    part.close()


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
    assert store.backend.position() == Position(None, {("in", 0): 42})  # nothing delivered: no changelog offset


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


def commit(part: StorePartition) -> None:
    staged(part)
    part.commit_local({})


def test_prefix_and_range_scans_merge_the_write_cache_with_committed_entries(store: StorePartition) -> None:
    a, b, c = key_prefix(b'"a"'), key_prefix(b'"b"'), key_prefix(b'"c"')
    for key, value in [(a, 0), (a + b"1", 1), (a + b"2", 2), (b, 10), (c + b"x", 20)]:
        store.put(key, value)
    store.put_raw(MARKS_KEY, b"{}")
    commit(store)
    store.put(a + b"3", 3)  # new, uncommitted
    store.delete(a + b"1")  # committed, deleted in the cache
    store.put(a + b"2", 22)  # committed, overwritten in the cache
    assert list(store.iter_prefix(a)) == [(a + b"2", 22), (a + b"3", 3)]
    assert list(store.iter_range(a, c)) == [(a, 0), (a + b"2", 22), (a + b"3", 3), (b, 10)]
    assert list(store.iter_range(b)) == [(b, 10), (c + b"x", 20)]  # to the end; framework entries left out
    store.delete(b)
    assert list(store.iter_range(key_prefix(b'"aa"'), c)) == []
    commit(store)
    assert [k for k, _ in store.iter_range(b"")] == [a, a + b"2", a + b"3", c + b"x"]


def test_raw_scans_merge_staged_framework_entries_and_deletes_with_committed_ones(store: StorePartition) -> None:
    t = reserved_key("t.")
    for i in (1, 3, 5, 7):
        store.put_raw(t + bytes([i]), b"c%d" % i)
    store.put(key_prefix(b'"user"'), 1)  # a user entry: never in a raw scan of the framework range
    commit(store)
    assert store.dirty_count == 0
    store.put_raw(t + bytes([2]), b"new")  # staged, between committed entries
    store.put_raw(t + bytes([3]), None)  # a committed entry deleted
    store.put_raw(t + bytes([5]), b"changed")
    store.put_raw(t + bytes([9]), b"last")
    assert store.dirty_count == 4  # a staged framework entry makes a checkpoint due
    assert list(store.iter_raw(t, t + b"\xff")) == [
        (t + b"\x01", b"c1"), (t + b"\x02", b"new"), (t + b"\x05", b"changed"), (t + b"\x07", b"c7"),
        (t + b"\x09", b"last")]
    assert list(store.iter_raw(t + b"\x03", t + b"\x07")) == [(t + b"\x05", b"changed")]
    commit(store)
    assert [k[-1] for k, _ in store.iter_raw(t, t + b"\xff")] == [1, 2, 5, 7, 9]
    assert store.backend.get(t + b"\x03") is None


def test_prefix_end_is_the_first_key_past_the_prefix() -> None:
    assert prefix_end(b"\x00\x03abc") == b"\x00\x03abd"
    assert prefix_end(b"a\xff\xff") == b"b"
    assert prefix_end(b"\xff\xff") is None


def test_entry_count_is_exact_for_map_keys_across_checkpoints(store: StorePartition,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """streamproc_state_keys' source: a map key's sub-keys count one each; overwrites and deletes are exact."""
    monkeypatch.setattr(RocksDBBackend, "RECOUNT_INTERVAL", 0.0)  # RocksDB counts at most every 30 s: here always
    monkeypatch.setattr(RocksDBBackend, "RECOUNT_COST", 0.0)
    owner = Owner()
    state = KeyedState(owner, store)
    for customer in range(50):
        at(owner, f"c{customer}")
        state.set(customer)
        for order in range(7):
            state[f"o{order}"] = order
        for order in range(2):  # keep the last five
            del state[f"o{order}"]
    store.put_raw(MARKS_KEY, b"{}")
    commit(store)
    assert store.backend.entry_count() == 50 * 6
    for round_ in range(3):
        for customer in range(50):
            at(owner, f"c{customer}")
            if customer % 2:
                state.set(round_)
            else:
                state.update(lambda total: total + 1)
            state[f"o{round_ + 2}"] = round_  # existing sub-keys
        commit(store)
    at(owner, "c0")
    state.delete()
    del state["o6"]
    state["new"] = 1
    at(owner, "c1")
    del state["never-there"]
    assert state.get_item("also-never") is None
    state["also-never"] = 5  # read as absent, then written
    del state["o2"]
    commit(store)
    assert store.backend.entry_count() == 50 * 6 - 1 == len(list(store.iter_range(b"")))
