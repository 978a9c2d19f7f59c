"""The state directory is never reached through a link and never writes into another user's files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from streamproc.cli.main import main
from streamproc.errors import StateDirError
from streamproc.names import Names
from streamproc.state.dirs import check_state_dir, private_dirs

NAMES = Names("topo")


def victim(tmp_path: Path) -> Path:
    """Another user's directory that a planted link points at: it must stay as it is."""
    target = tmp_path / "victim"
    target.mkdir(mode=0o755)
    os.chmod(target, 0o755)
    return target


def assert_untouched(target: Path) -> None:
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("level", ["topo", "topo/counts", "topo/counts/0"])
def test_a_symlink_at_any_level_is_refused_with_its_path(tmp_path: Path, level: str) -> None:
    root = tmp_path / "shared"
    (root / level).parent.mkdir(parents=True)
    target = victim(tmp_path)
    (root / level).symlink_to(target)
    with pytest.raises(StateDirError, match=f"{root / level} is a symbolic link"):
        private_dirs(root / "topo" / "counts" / "0", root)
    assert_untouched(target)


def test_a_directory_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "shared"
    (root / "topo").mkdir(parents=True, mode=0o777)
    me = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: me + 1)  # as if another user had created root/topo
    with pytest.raises(StateDirError, match=f"{root / 'topo'} belongs to user id {me}"):
        private_dirs(root / "topo" / "counts", root)
    monkeypatch.undo()
    assert stat.S_IMODE((root / "topo").stat().st_mode) != 0o700  # not chmod'ed on the other user's behalf


def test_check_finds_links_and_unusable_files_below_the_group(tmp_path: Path) -> None:
    root = tmp_path / "state"
    partition = root / "topo" / "counts" / "0"
    private_dirs(partition, root)
    check_state_dir(root, NAMES)  # a fresh tree passes

    sst = partition / "000001.sst"
    sst.write_bytes(b"x")
    os.chmod(sst, 0)
    with pytest.raises(StateDirError, match=f"state file {sst} has mode 000"):
        check_state_dir(root, NAMES)
    sst.unlink()

    (partition / "LOG").symlink_to(victim(tmp_path) / "log")
    with pytest.raises(StateDirError, match=f"{partition / 'LOG'} is a symbolic link"):
        check_state_dir(root, NAMES)
    (partition / "LOG").unlink()

    os.chmod(partition, 0o500)
    with pytest.raises(StateDirError, match=f"state directory {partition} has mode 500"):
        check_state_dir(root, NAMES)


def test_another_groups_directory_is_not_this_groups_concern(tmp_path: Path) -> None:
    root = tmp_path / "state"
    (root / "other").mkdir(parents=True)
    (root / "other" / "link").symlink_to(tmp_path)
    check_state_dir(root, NAMES)
    assert not (root / "topo").exists()  # the check creates nothing


def test_state_dir_that_is_a_file_or_cannot_be_created_is_refused(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StateDirError, match="exists and is not a directory"):
        check_state_dir(tmp_path / "file", NAMES)
    locked = tmp_path / "locked"
    locked.mkdir()
    # As a user without write permission (the tests may run as root, for whom os.access always says yes).
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)
    with pytest.raises(StateDirError, match=f"--state-dir {locked / 'state'} does not exist and {locked} is not "
                                            "writable"):
        check_state_dir(locked / "state", NAMES)
    with pytest.raises(StateDirError, match=f"--state-dir {locked} is not writable"):
        check_state_dir(locked, NAMES)


def test_run_refuses_a_planted_link_before_it_connects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target_file = tmp_path / "topo.py"
    target_file.write_text("from tests.support.bolts import wordcount\ntopology = wordcount()\n")
    root = tmp_path / "state"
    root.mkdir()
    target = victim(tmp_path)
    (root / "wc").symlink_to(target)
    # Port 1: nothing listens there; the check must come first, so no 15 s connection timeout.
    code = main(["run", str(target_file), "--bootstrap-servers", "127.0.0.1:1", "--state-dir", str(root)])
    assert code == 2
    assert f"{root / 'wc'} is a symbolic link" in capsys.readouterr().err
    assert_untouched(target)
