"""The state directory: owner-only, never reached through a symlink, never another user's files.

``--state-dir`` may be a shared directory such as ``/tmp/state``. Another local user who can write
there could plant a symlink (or a directory of their own) where a group's, store's or partition's
directory goes; following it would chmod its target and write RocksDB files, which hold every key
and value, wherever it points. So every directory below the root is opened without following
links and must belong to the running user, and ``check_state_dir`` walks a group's tree once
before a worker joins the group: what a restart cannot fix (no permission, a link, a foreign
owner) is found there, with its path, instead of after a group join or as a restart loop.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from streamproc.errors import StateDirError
from streamproc.names import Names

#: State directories hold every key and value a topology has seen: owner-only.
PRIVATE_DIR = 0o700
_ADVICE = "remove it, or give --state-dir a directory only this user can write to"


def make_private(directory: Path) -> None:
    """Create ``directory`` (its parent must exist) or tighten an existing one to owner-only, refusing a
    symlink or a directory of another user.

    The mode is set through a descriptor opened with O_NOFOLLOW, so a link swapped in after the check
    cannot redirect the chmod; mkdir's mode alone would be filtered by the umask."""
    try:
        directory.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateDirError(f"cannot create state directory {directory}: {exc.strerror}") from None
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and directory.is_symlink():
            raise StateDirError(f"{directory} is a symbolic link; streamproc does not follow links in a state "
                                f"directory: {_ADVICE}") from None
        if exc.errno == errno.ENOTDIR:
            raise StateDirError(f"{directory} is not a directory: {_ADVICE}") from None
        raise StateDirError(f"cannot open state directory {directory}: {exc.strerror}") from None
    try:
        _check_owner(directory, os.fstat(fd))
        os.fchmod(fd, PRIVATE_DIR)
    finally:
        os.close(fd)


def private_dirs(path: Path, root: Path) -> None:
    """Create ``path`` and every directory between it and ``root`` owner-only (see ``make_private``).

    ``root`` (the --state-dir) is created owner-only when missing, but an existing one is left as it
    is: the user chose it, and it may be a shared directory such as /tmp.
    """
    if not root.is_dir():
        try:
            root.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateDirError(f"cannot create --state-dir {root}: {exc.strerror} ({exc.filename})") from None
        make_private(root)
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        make_private(current)


def check_state_dir(state_dir: Path, names: Names) -> None:
    """Everything a worker will need under ``state_dir`` for group ``names.app``, checked once up front and
    without creating anything: the root (or the directory it will be created in) is writable, and nothing
    in the group's tree is a link, belongs to another user, or lacks the owner's permissions. Raises
    StateDirError naming the path."""
    if state_dir.exists() and not state_dir.is_dir():
        raise StateDirError(f"--state-dir {state_dir} exists and is not a directory")
    existing = state_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # nothing is created here: a run that stops early leaves no trace
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "--state-dir" if existing == state_dir else f"--state-dir {state_dir} does not exist and"
        raise StateDirError(f"{what} {existing} is not writable by this user")
    for top in (names.state_root(state_dir), names.lease_dir(state_dir)):
        if top.exists() or top.is_symlink():
            _check_tree(top)


def _check_tree(top: Path) -> None:
    for directory, subdirs, files in os.walk(top, onerror=_raise_walk_error):
        base = Path(directory)
        _check_entry(base)
        for name in subdirs + files:  # os.walk lists a link to a directory among subdirs, and does not enter it
            entry = base / name
            if name in subdirs and not entry.is_symlink():
                continue  # checked as the walk enters it
            _check_entry(entry)


def _raise_walk_error(exc: OSError) -> None:
    raise StateDirError(f"cannot read state directory {exc.filename}: {exc.strerror}") from None


def _check_entry(path: Path) -> None:
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise StateDirError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise StateDirError(f"{path} is a symbolic link; streamproc does not follow links in a state directory: "
                            f"{_ADVICE}")
    _check_owner(path, info)
    needed = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
    if info.st_mode & needed != needed:
        kind = "directory" if stat.S_ISDIR(info.st_mode) else "file"
        raise StateDirError(f"state {kind} {path} has mode {stat.S_IMODE(info.st_mode):03o}; streamproc needs "
                            f"{needed:03o} at least (chmod u+{'rwx' if needed == 0o700 else 'rw'} it)")


def _check_owner(path: Path, info: os.stat_result) -> None:
    me = os.geteuid()
    if info.st_uid != me:
        raise StateDirError(f"{path} belongs to user id {info.st_uid}, not to this user ({me}); streamproc writes "
                            f"state only into its own directories: {_ADVICE}")
