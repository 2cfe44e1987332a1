"""Where the machine's CPU goes during a phase, by kind of process (Linux /proc): the web
server's workers, the broker, PostgreSQL, consumers and this load generator. P4 uses it to say
what a to-be request costs beyond the trivial view, per process, not only in wall time."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
Snapshot = dict[int, tuple[str, float]]  # pid -> (group, CPU seconds so far)
GROUPS = ("gunicorn", "broker", "postgres", "consumer", "load", "other")


def _group(pid: int, cmdline: str, comm: str) -> str:
    if pid == os.getpid():
        return "load"
    if "gunicorn" in cmdline:
        return "gunicorn"
    if "kafka.Kafka" in cmdline:
        return "broker"
    if comm == "postgres" or cmdline.startswith("postgres"):
        return "postgres"
    if "runconsumer" in cmdline:
        return "consumer"
    return "other"


def snapshot() -> Snapshot:
    """Every process's group and CPU seconds (user + system) so far."""
    found: Snapshot = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
        pid = int(entry.name)
        found[pid] = (_group(pid, cmdline, comm), seconds)
    return found


def spent(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds by group between two snapshots (processes that ended meanwhile are missed)."""
    used: dict[str, float] = dict.fromkeys(GROUPS, 0.0)
    for pid, (group, seconds) in after.items():
        old = before.get(pid)
        used[group] += seconds - (old[1] if old and old[0] == group else 0.0)
    return used


def per_request(used: dict[str, float], requests: int) -> str:
    """'gunicorn 1.90, broker 0.80, load 0.20 ms': the groups that spent 0.01 ms a request or
    more (CPU time is counted in clock ticks: 10 ms per process and sample)."""
    parts = [f"{g} {used[g] * 1000 / requests:.2f}" for g in GROUPS if used[g] >= 1e-5 * requests]
    return (", ".join(parts) or "none measurable") + " ms"
