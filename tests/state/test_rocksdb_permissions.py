"""State directories are owner-only: they hold every key and value the topology has seen."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamproc.state.position import Position
from streamproc.state.rocksdb import RocksDBBackend, private_dirs


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 0: what mkdir's mode alone would leave is exactly what it asked for, nothing filtered out."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("permissive_umask")
def test_created_tree_is_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "new" / "state"
    path = root / "topo" / "counts" / "3"
    private_dirs(path, root)
    for directory in (root, root / "topo", root / "topo" / "counts", path):
        assert mode(directory) == 0o700, directory


@pytest.mark.usefixtures("permissive_umask")
def test_existing_directories_below_the_root_are_tightened_but_the_root_is_left(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    (root / "topo" / "counts").mkdir(parents=True, mode=0o755)
    os.chmod(root, 0o755)
    os.chmod(root / "topo", 0o755)
    os.chmod(root / "topo" / "counts", 0o777)
    private_dirs(root / "topo" / "counts" / "0", root)
    assert mode(root) == 0o755  # chosen by the user, maybe shared: not ours to change
    assert mode(root / "topo") == 0o700
    assert mode(root / "topo" / "counts") == 0o700
    assert mode(root / "topo" / "counts" / "0") == 0o700


@pytest.mark.usefixtures("permissive_umask")
def test_rocksdb_directory_is_owner_only_also_when_rebuilt(tmp_path: Path) -> None:
    db = RocksDBBackend(tmp_path / "store" / "0")
    db.write([(b"k", b"v")], Position())
    assert mode(tmp_path / "store" / "0") == 0o700
    db.wipe()  # deletes the directory and lets RocksDB start a new one
    assert mode(tmp_path / "store" / "0") == 0o700
    db.close()
    os.chmod(tmp_path / "store" / "0", 0o755)  # e.g. written by an older version
    RocksDBBackend(tmp_path / "store" / "0").close()
    assert mode(tmp_path / "store" / "0") == 0o700
