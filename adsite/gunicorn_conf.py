"""gunicorn's configuration file for the web server (`gunicorn -c adsite/gunicorn_conf.py ...`):
Prometheus' multiprocess mode, so that /metrics adds up every worker's samples.

gunicorn reads this file in the master before it imports the app, so the folder is in the
environment before anything imports prometheus_client (which chooses its storage on import):
- PROMETHEUS_MULTIPROC_DIR unset (the usual case): a fresh private folder (in /dev/shm when
  writable, else the temp folder), removed when the master exits;
- set: that folder, created if missing and emptied of earlier runs' files now; it must belong to
  this one gunicorn master (two masters sharing it would add up each other's samples).
When a worker exits, `child_exit` marks it dead, so its live gauges are dropped; its counters
and histograms stay in the totals (a counter must never go down). The command line's options
(bind, workers, ...) are given as before; this file sets only the hooks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def _multiprocess_dir() -> tuple[Path, bool]:
    """The folder, and whether this master made it (and so removes it)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return folder, False
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="adstats-prometheus-", dir=shm))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder, True


_FOLDER, _MADE_HERE = _multiprocess_dir()


def when_ready(server: Any) -> None:
    server.log.info("prometheus multiprocess folder: %s", _FOLDER)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _MADE_HERE:
        shutil.rmtree(_FOLDER, ignore_errors=True)
