"""A worker process names its topology and worker number where `ps` and `top` look."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.kafka import wait_for


def _ps(pid: int, column: str) -> str:
    return subprocess.run(["ps", "-o", f"{column}=", "-p", str(pid)], capture_output=True, text=True,
                          check=False).stdout.strip()


def test_title_shows_in_ps(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", (
        "import pathlib, time\n"
        "from streamproc.proctitle import set_worker_title\n"
        "set_worker_title('wordcount', 1)\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(60)\n")])
    try:
        wait_for(ready.exists, 30, "the child to set its title")
        assert _ps(child.pid, "args") == "streamproc worker 1 of wordcount"
        assert _ps(child.pid, "comm") == "sp-w1-wordcount"  # 15 bytes: the kernel's limit for the short name
    finally:
        child.kill()
        child.wait()
