"""Transactional id leases: real lock files, and a real process that dies holding one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streamproc.runtime.txn_id import LEASE_DIR, TransactionalIdLease
from tests.support.kafka import REPO

HOLD = """
import sys, time
from pathlib import Path
from streamproc.runtime.txn_id import TransactionalIdLease
lease = TransactionalIdLease.acquire(Path(sys.argv[1]), "wc")
print(lease.transactional_id, flush=True)
time.sleep(60)
"""


def test_live_workers_get_distinct_ids_and_a_restart_takes_a_free_one(tmp_path: Path) -> None:
    first = TransactionalIdLease.acquire(tmp_path, "wc")
    second = TransactionalIdLease.acquire(tmp_path, "wc")
    instance = first.transactional_id.removeprefix("wc-").rsplit("-", 1)[0]
    assert first.transactional_id == f"wc-{instance}-0"
    assert second.transactional_id == f"wc-{instance}-1"
    first.release()
    assert TransactionalIdLease.acquire(tmp_path, "wc").transactional_id == f"wc-{instance}-0"
    assert (tmp_path / LEASE_DIR).stat().st_mode & 0o777 == 0o700


def test_another_state_directory_is_another_instance(tmp_path: Path) -> None:
    here = TransactionalIdLease.acquire(tmp_path / "host-a", "wc").transactional_id
    there = TransactionalIdLease.acquire(tmp_path / "host-b", "wc").transactional_id
    assert here.endswith("-0") and there.endswith("-0") and here != there


def test_the_group_id_need_not_be_a_file_name(tmp_path: Path) -> None:
    lease = TransactionalIdLease.acquire(tmp_path, "team/orders:v2")
    assert lease.transactional_id.startswith("team/orders:v2-")


def test_a_killed_process_frees_its_slot(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              cwd=REPO)
    try:
        assert holder.stdout is not None
        held = holder.stdout.readline().strip()
        assert held.endswith("-0")
        assert TransactionalIdLease.acquire(tmp_path, "wc").transactional_id.endswith("-1")
    finally:
        holder.kill()
        holder.wait(10)
    assert TransactionalIdLease.acquire(tmp_path, "wc").transactional_id == held
