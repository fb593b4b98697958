"""How busy the machine was beside a run: the CPU that other processes used while it ran.

A CPU run's time depends on what else the machine does: the records' two-thread training waits
at every barrier for a thread another process holds, so a light load slows it more than its
share. The harness reads the machine's busy CPU time (``/proc/stat``: user, nice, system, irq,
softirq and steal of all CPUs) when a run starts and ends, takes away the run's own CPU time,
and the harness process's own (it reads the run's pipe, and may be a test runner or an agent
with other threads), and divides by the run's wall-clock: ``other_cpus``, the CPUs' worth of other
work that ran beside it (0 on a quiet machine; 1.0: another process kept one CPU busy
throughout). It is measured for CPU runs only: a GPU run's time is the GPUs', and on a node with
several GPUs the other jobs use its CPUs by design. The kernel counts in ticks (100 a second per
CPU), so a run shorter than :data:`MIN_WALL_S` cannot tell a quiet machine from a busy one: it gets
``None``, as where ``/proc/stat`` is missing (not Linux).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

PROC_STAT = Path("/proc/stat")
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system (idle iowait) irq softirq steal
MIN_WALL_S = 2.0  # over 2 s a few ticks of rounding on each CPU are at most ~0.02 CPUs


def busy_cpu_seconds() -> float | None:
    """CPU seconds all CPUs of the machine have spent busy since boot, less this process's own,
    or None where unknown."""
    try:
        first = PROC_STAT.read_text().split("\n", 1)[0].split()
        ticks = [int(first[1 + i]) for i in _BUSY_FIELDS]
    except (OSError, ValueError, IndexError):
        return None
    own = resource.getrusage(resource.RUSAGE_SELF)
    return sum(ticks) / os.sysconf("SC_CLK_TCK") - (own.ru_utime + own.ru_stime)


def other_cpus(busy_before: float | None, busy_after: float | None, run_cpu_s: float, wall_s: float) -> float | None:
    """The CPUs' worth of other work during a run, from the machine's busy time around it."""
    if busy_before is None or busy_after is None or wall_s < MIN_WALL_S:
        return None
    return round(max(0.0, busy_after - busy_before - run_cpu_s) / wall_s, 3)


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) a process and all its descendants have used, the children they
    have reaped included; None where ``/proc`` cannot say (the process is gone, or not Linux)."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while the table was read
        process = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(process)
        times[process] = sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    if pid not in times:
        return None
    total, todo = 0.0, [pid]
    while todo:
        process = todo.pop()
        total += times.get(process, 0.0)
        todo += children.get(process, [])
    return total
