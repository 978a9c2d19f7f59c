"""The StoreBackend contract, run against every backend: what recovery, standbys and the write cache rely on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamproc.errors import StateError, TopologyError
from streamproc.names import Names
from streamproc.state import rocksdb
from streamproc.state.backend import StoreBackend, backend_class, open_backend, open_local_copy
from streamproc.state.position import Position
from streamproc.state.rocksdb import RocksDBBackend
from streamproc.state.store import BACKENDS, Store, reserved_key

MARK = reserved_key("test.mark")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    opened = open_backend(Store("s", backend=request.param), tmp_path, Names("top"), 0)
    yield opened
    opened.close()


def test_every_declared_backend_has_a_class() -> None:
    assert {name: backend_class(Store("s", backend=name)).kind for name in BACKENDS} == {n: n for n in BACKENDS}


def test_an_unknown_backend_is_refused_naming_the_store() -> None:
    with pytest.raises(TopologyError, match=r"store 'totals': unknown backend 'redis' \(choose one of 'rocksdb', "):
        Store("totals", backend="redis")


def test_a_new_backend_is_empty_with_no_position(backend: StoreBackend) -> None:
    assert backend.get(b"k") is None
    assert list(backend.iter_range(b"")) == []
    assert backend.position() == Position()
    assert backend.entry_count() == 0


def test_writes_apply_values_and_merge_the_position(backend: StoreBackend) -> None:
    backend.write([(b"a", b"1"), (b"b", b"2"), (b"a", b"3")], Position(5, {("in", 0): 10}))
    assert (backend.get(b"a"), backend.get(b"b")) == (b"3", b"2")
    assert backend.position() == Position(5, {("in", 0): 10})
    backend.write([(b"b", None)], Position(None, {("in", 1): 4}))  # no changelog offset: kept
    assert backend.get(b"b") is None
    assert backend.position() == Position(5, {("in", 0): 10, ("in", 1): 4})
    batch = backend.new_batch()
    batch.put(b"c", b"9")
    batch.delete(b"a")
    assert batch.len() == 2
    backend.write_batch(batch, Position(8))
    assert (backend.get(b"a"), backend.get(b"c")) == (None, b"9")
    assert backend.position() == Position(8, {("in", 0): 10, ("in", 1): 4})


def test_ranges_are_ordered_and_half_open(backend: StoreBackend) -> None:
    keys = [b"\x00\x01a", b"\x00\x01a\x01", b"\x00\x01b", b"\x00\x02bb", b"\x01", MARK]
    backend.write([(k, k) for k in reversed(keys)], Position(1))
    assert [k for k, _ in backend.iter_range(b"")] == keys
    assert [k for k, _ in backend.iter_range(b"\x00\x01a", b"\x00\x01b")] == keys[:2]
    assert [k for k, v in backend.iter_range(b"\x00\x01a\x00", b"\x00\x02") if k == v] == keys[1:3]
    assert list(backend.iter_range(b"\x02", b"\x03")) == []
    backend.write([(b"\x00\x01a\x01", None), (b"\x00\x01aa", b"new")], Position())
    assert [k for k, _ in backend.iter_range(b"\x00\x01a", b"\x00\x01b")] == [b"\x00\x01a", b"\x00\x01aa"]


@pytest.fixture
def recount_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """RocksDB recounts after blind writes at most every 30 s: here at every ask."""
    monkeypatch.setattr(RocksDBBackend, "RECOUNT_INTERVAL", 0.0)
    monkeypatch.setattr(RocksDBBackend, "RECOUNT_COST", 0.0)


@pytest.mark.usefixtures("recount_at_once")
def test_entry_count_is_exact_and_leaves_framework_entries_out(backend: StoreBackend) -> None:
    backend.write([(b"a", b"1"), (b"b", b"1"), (MARK, b"{}")], Position(3))
    assert backend.entry_count() == 2
    backend.write([(b"a", b"2"), (b"a", b"3"), (b"c", b"1"), (b"b", None), (b"zz", None), (MARK, b"{}")], Position(9))
    assert backend.entry_count() == 2  # a overwritten twice, c new, b deleted, zz never existed
    batch = backend.new_batch()  # a restore's batches: counted again once the restore's last write is done
    for i in range(10):
        batch.put(b"r%d" % i, b"x")
    backend.write_batch(batch, Position(20))
    backend.write((), Position(20, {("in", 0): 1}))
    assert backend.entry_count() == 12
    assert backend.size_bytes() > 0


def test_wipe_discards_data_and_position(backend: StoreBackend) -> None:
    backend.write([(b"a", b"1")], Position(4, {("in", 0): 2}))
    backend.wipe()
    assert backend.get(b"a") is None and backend.position() == Position() and backend.entry_count() == 0
    backend.write([(b"b", b"1")], Position(1))
    assert backend.get(b"b") == b"1"


@pytest.mark.parametrize("kind", BACKENDS)
def test_only_a_durable_backend_keeps_its_data_across_opens(tmp_path: Path, kind: str) -> None:
    spec = Store("s", backend=kind)
    first = open_backend(spec, tmp_path, Names("top"), 0)
    first.write([(b"a", b"1")], Position(1, {("in", 0): 1}))
    first.close()
    again = open_backend(spec, tmp_path, Names("top"), 0)
    try:
        if again.durable:
            assert again.get(b"a") == b"1" and again.position() == Position(1, {("in", 0): 1})
            reader = open_local_copy(spec, tmp_path, Names("top"), 0)  # read-only, beside the open writer
            assert reader.get(b"a") == b"1"
            reader.close()
        else:
            assert again.get(b"a") is None and again.position() == Position()
            assert not (tmp_path / "top").exists(), "a memory store writes nothing to the state directory"
            with pytest.raises(StateError, match="keeps its state in memory"):
                open_local_copy(spec, tmp_path, Names("top"), 0)
    finally:
        again.close()


def test_rocksdb_counts_again_after_changes_at_most_every_recount_interval(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A count is a scan of the keys: run when asked after a change, but not more often than every 30 s."""
    now = [1000.0]
    monkeypatch.setattr(rocksdb, "_clock", lambda: now[0])
    db = RocksDBBackend(tmp_path / "db")
    db.write([(b"a", b"1"), (b"b", b"1"), (MARK, b"{}")], Position(2))
    assert db.entry_count() == 2
    db.write([(b"c", b"1")], Position(3))
    now[0] += 29.0
    assert db.entry_count() == 2  # the last count, until the interval has passed
    now[0] += 1.0
    assert db.entry_count() == 3
    batch = db.new_batch()  # a restore's step: not counted until the restore's last write
    batch.put(b"d", b"1")
    db.write_batch(batch, Position(4))
    now[0] += 60.0
    assert db.entry_count() == 3
    db.write((), Position(4, {("in", 0): 1}))
    assert db.entry_count() == 4
    db.close()
