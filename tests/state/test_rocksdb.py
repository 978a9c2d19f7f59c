"""What only the RocksDB backend does: directory locks and damaged directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.errors import StateError
from streamproc.state.position import Position
from streamproc.state.rocksdb import RocksDBBackend


def test_closed_store_can_be_reopened_at_once(tmp_path: Path) -> None:
    db = RocksDBBackend(tmp_path / "db", lock_timeout=1)
    db.write([(b"k", b"v")], Position())
    db.close()
    again = RocksDBBackend(tmp_path / "db", lock_timeout=1)
    assert again.get(b"k") == b"v"
    with pytest.raises(StateError, match="locked by another process"):
        RocksDBBackend(tmp_path / "db", lock_timeout=0.3)
    again.close()


def test_corrupt_directory_is_discarded(tmp_path: Path) -> None:
    db = RocksDBBackend(tmp_path / "db")
    db.write([(b"k", b"v")], Position(3))
    db.close()
    for path in (tmp_path / "db").iterdir():
        if path.name.startswith(("CURRENT", "MANIFEST")):
            path.write_bytes(b"garbage")
    rebuilt = RocksDBBackend(tmp_path / "db")
    assert rebuilt.get(b"k") is None
    assert rebuilt.position() == Position()
    rebuilt.close()


def test_a_read_only_copy_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="no local copy"):
        RocksDBBackend.read_only(tmp_path / "absent")


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    """A rebuild whose wipe could not reopen the directory (another process took it) still closes it."""
    db = RocksDBBackend(tmp_path / "db")
    db.close()
    db.close()
