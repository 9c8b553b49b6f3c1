"""CPU time and resident memory of process trees, read from ``/proc`` (Linux).

A benchmark names each process it cares about (``{"rasa": pid, …}``); every figure
counts the process and all its descendants (a server that forks workers is measured
whole), except named processes among them, which count on their own.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Collection, Dict, List, Mapping

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> List[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name is in parentheses and may contain spaces: split after it.
    return raw[raw.rindex(")") + 2:].split()


def _children() -> Dict[int, List[int]]:
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry))[1])
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        children.setdefault(parent, []).append(int(entry))
    return children


def tree(pid: int, children: Mapping[int, List[int]], apart: Collection[int] = ()) -> List[int]:
    """``pid`` and its descendants, except those under a pid in ``apart`` (measured
    on their own, e.g. the servers a launcher started)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(child for child in children.get(current, []) if child not in apart)
    return found


def cpu_seconds(pids: Mapping[str, int]) -> Dict[str, float]:
    """User + system CPU seconds used so far by each named process tree."""
    children = _children()
    result: Dict[str, float] = {}
    for name, pid in pids.items():
        total = 0
        for member in tree(pid, children, apart=set(pids.values()) - {pid}):
            try:
                fields = _stat_fields(member)
            except OSError:
                continue
            # utime, stime (fields 14, 15 of stat; indexes after the command name)
            total += int(fields[11]) + int(fields[12])
        result[name] = total / CLOCK_TICKS
    return result


def resident_mb(pids: Mapping[str, int]) -> Dict[str, float]:
    """Resident memory (MB) of each named process tree."""
    children = _children()
    result: Dict[str, float] = {}
    for name, pid in pids.items():
        pages = 0
        for member in tree(pid, children, apart=set(pids.values()) - {pid}):
            try:
                pages += int(Path(f"/proc/{member}/statm").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
        result[name] = pages * PAGE_SIZE / 1e6
    return result


def difference(after: Mapping[str, float], before: Mapping[str, float]) -> Dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}
