"""CPU clocks the benchmarks read: this process, another process (the embedded broker), the machine.

On a shared 2-core VM, wall-clock rates swing with the neighbours' load; these clocks say how much
of a run's time was the code under test, the broker, other processes or the hypervisor.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int | None) -> float:
    """User + system CPU of another process (the embedded broker), from /proc; 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_seconds() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine, all CPUs, from /proc/stat (zeros when unknown).

    Busy is user + nice + system + irq + softirq; stolen is what the hypervisor took from this VM.
    """
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    except (OSError, ValueError):
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def machine_report(elapsed: float, busy: float, stolen: float, ours: float) -> str:
    """How loaded the machine was over ``elapsed`` seconds, given the deltas of ``machine_seconds`` and
    the CPU seconds of the processes under test (``ours``)."""
    cores = os.cpu_count() or 1
    others = max((busy - ours) / elapsed, 0.0)
    share = stolen / (elapsed * cores)
    verdict = ": wall-clock figures are unreliable" if share > 0.05 or others > 0.2 else ""
    return f"{others:.2f} of {cores} cores busy with other processes, {share:.0%} stolen by the hypervisor{verdict}"
