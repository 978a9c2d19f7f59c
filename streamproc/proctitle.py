"""Process titles: a worker shows in ``ps`` and ``top`` as ``streamproc worker 1 of wordcount``.

Worker processes are started with multiprocessing's spawn method, so without a title ``ps`` shows
``python -B -c from multiprocessing.spawn import spawn_main; ...`` for each of them, and an operator
cannot tell which topology a process runs or which worker to look at. setproctitle rewrites the
command line that ``ps`` reads (``/proc/PID/cmdline``) and sets the short name ``top`` and ``ps -e``
show (``/proc/PID/comm``, via prctl on Linux); Python has no portable way to do the former itself.
"""

from __future__ import annotations

import setproctitle


def worker_title(topology: str, index: int) -> str:
    return f"streamproc worker {index} of {topology}"


def set_worker_title(topology: str, index: int) -> None:
    """Name this process after its topology and worker number (the short name keeps its first 15 bytes,
    the kernel's limit, so it starts with the worker number rather than the topology)."""
    setproctitle.setproctitle(worker_title(topology, index))
    setproctitle.setthreadtitle(f"sp-w{index}-{topology}")
