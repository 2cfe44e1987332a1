"""scripts/bench/cpu.py: CPU time is read per process from /proc and put in the right group."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from bench import cpu  # noqa: E402

BUSY = "import sys, time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"


def test_a_busy_process_is_counted_in_its_group_and_an_idle_one_is_not() -> None:
    before = cpu.snapshot()
    # The marker in the command line is what puts a process in the consumer's group.
    busy = subprocess.Popen(
        [sys.executable, "-c", BUSY + "sys.stdin.read()", "runconsumer"], stdin=subprocess.PIPE
    )
    idle = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", "gunicorn"], stdin=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            used = cpu.spent(before, cpu.snapshot())
            if used["consumer"] >= 0.45:  # /proc counts in 10 ms ticks
                break
            time.sleep(0.05)
    finally:
        for process in (busy, idle):
            process.kill()
            process.wait()
    assert 0.4 <= used["consumer"] < 1.0, used
    assert used["gunicorn"] < 0.2, used  # the idle one: its start-up at most
    # 0.45 s or more over 100 requests: 4.5 ms or more each.
    assert re.search(r"\bconsumer (\d+\.\d\d)\b", cpu.per_request(used, 100)), used
    shown = float(re.findall(r"\bconsumer (\d+\.\d\d)", cpu.per_request(used, 100))[0])
    assert 4.0 <= shown < 10.0
