"""The chaos suite's worker processes: each member is one `streamproc run` with its own state directory,
as if on its own host, so that partitions moving between members really restore from the changelog."""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

from tests.support.kafka import RunningTopology

_STARTED = re.compile(r"started worker 0 \(pid (\d+)\)")


class Member:
    """One supervised `streamproc run --workers 1`; killed either as a whole (supervisor and worker,
    restarted by the driver) or only in its worker process (restarted by its supervisor)."""

    def __init__(self, index: int, target: Path, bootstrap: str, workdir: Path, extra: list[str]) -> None:
        self.index = index
        self.target = target
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.state_dir = workdir / f"state-{index}"
        self.extra = extra
        self.logs: list[Path] = []
        self.running: RunningTopology | None = None
        self._read_upto = 0

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        log = self.workdir / f"member-{self.index}-run-{len(self.logs) + 1}.log"
        self.logs.append(log)
        self._read_upto = 0
        self.running = RunningTopology(self.target, self.bootstrap, self.state_dir, log, *self.extra)

    @property
    def alive(self) -> bool:
        return self.running is not None and self.running.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.running is None else self.running.process.poll()

    def kill_process(self) -> None:
        """SIGKILL the supervisor and its worker at once: nothing gets to clean up."""
        assert self.running is not None
        self.running.kill()

    def kill_worker(self) -> bool:
        """SIGKILL only the worker process; its supervisor restarts it. False when there is none to kill."""
        pid = self.worker_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def delete_state(self) -> None:
        assert not self.alive, "the state directory is deleted only while the member is stopped"
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def stop(self, timeout: float = 90.0) -> int:
        assert self.running is not None
        return self.running.stop(timeout)

    # --- logs ------------------------------------------------------------------------------------
    def current_log(self) -> str:
        return self.logs[-1].read_text(errors="replace") if self.logs else ""

    def new_log(self) -> str:
        """Log text of the current run written since the last call."""
        text = self.current_log()
        fresh, self._read_upto = text[self._read_upto:], len(text)
        return fresh

    def all_logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs)

    def worker_pid(self) -> int | None:
        """The pid of the worker process the supervisor started last, if it is alive."""
        found = _STARTED.findall(self.current_log())
        if not found:
            return None
        pid = int(found[-1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid
