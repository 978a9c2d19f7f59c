"""Processes that do not outlive their owner.

``kill -9`` of the supervisor used to leave its workers running (they looked at their parent only at
a checkpoint, which with a long --commit-interval is minutes away) and the embedded broker running
for good. On Linux the kernel can signal a process when its parent dies (PR_SET_PDEATHSIG): a worker
asks for SIGTERM, which is its graceful stop (final checkpoint, leave the group); the broker, which
keeps nothing worth saving, for SIGKILL. Elsewhere the worker's check at each checkpoint remains.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> bool:
    """Have ``sig`` sent to this process when its parent dies; True when the kernel took the request.

    ``parent``: the pid the parent had; if it is already gone (it died before this call), ``sig`` is sent
    now, since the kernel only signals deaths that come after the request. Safe in a preexec_fn."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def broker_preexec() -> None:
    """preexec_fn for the embedded broker: killed with the process that started it."""
    die_with_parent(signal.SIGKILL, None)
