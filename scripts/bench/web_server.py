"""gunicorn for the benchmark (the image's shape: gthread workers, DEBUG off, ingest throttle
off) on a free port, and a keep-alive HTTP client per thread."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.environment import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(*, topic: str, logs: Path, workers: int, threads: int) -> Iterator[int]:
    """Serve the site (with bench.noop's extra view) publishing to `topic`; yield the port."""
    port = free_port()
    error_log = logs / f"gunicorn-{port}.log"
    env = {
        **os.environ,
        "DEBUG": "0",
        "TRUSTED_PROXIES": "0",
        "INGEST_THROTTLE_RATE": "",
        "IMPRESSIONS_TOPIC": topic,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the configuration file makes its own
    command = [
        *(sys.executable, "-m", "gunicorn", "bench.noop:application"),
        *("-c", "adsite/gunicorn_conf.py", "--pythonpath", "scripts"),
        *("--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads)),
        *("--bind", f"127.0.0.1:{port}", "--error-logfile", str(error_log), "--preload"),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not error_log.exists() or error_log.read_text().count("Booting worker") < workers:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {error_log}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Client:
    """One keep-alive connection (one per client thread); reconnects after an error."""

    def __init__(self, port: int, token: str = "") -> None:
        self.port, self.token = port, token
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            try:
                return response.status, json.loads(data) if data else None
            except ValueError:
                return response.status, None
        raise AssertionError("unreachable")
