"""A real web server for tests: gunicorn (as the image runs it) on a free port, on the test
database, and plain HTTP helpers; shared by the metrics and statement-timeout tests."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, database_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def fetch(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> Answer:
    """One request on a fresh connection (no keep-alive), so any worker may take it."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    answer_headers = {k.lower(): v for k, v in response.getheaders()}
    return Answer(response.status, answer_headers, body, time.monotonic() - started)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text → {(sample name, sorted labels): value}."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample; 0 when absent."""
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@dataclass
class Gunicorn:
    port: int
    proc: subprocess.Popen[bytes]
    error_log: Path
    access_log: Path

    def worker_pids(self) -> set[str]:
        time.sleep(0.2)  # the workers write their access log lines after answering
        lines = self.access_log.read_text().split("\n")
        return {line.split()[0].strip("<>") for line in lines if line.strip()}


@contextmanager
def gunicorn(tmp_path: Path, *, workers: int = 2, **env: str) -> Iterator[Gunicorn]:
    """`gunicorn adsite.wsgi -c adsite/gunicorn_conf.py --preload -w N` on the test database."""
    port = free_port()
    access_log, error_log = tmp_path / "access.log", tmp_path / "error.log"
    full_env = {
        **os.environ,  # SECRET_KEY from pytest.ini (pytest-env)
        "DEBUG": "0",
        "DATABASE_URL": database_url(),
        "TRUSTED_PROXIES": "0",
        **env,
    }
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the configuration file makes one
    command = [
        *(sys.executable, "-m", "gunicorn", "adsite.wsgi", "-c", "adsite/gunicorn_conf.py"),
        *("--workers", str(workers), "--preload", "--bind", f"127.0.0.1:{port}"),
        *("--access-logfile", str(access_log), "--access-logformat", "%(p)s %(s)s"),
        *("--error-logfile", str(error_log), "--no-control-socket"),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env=full_env)
    try:
        deadline = time.monotonic() + 30
        while not error_log.exists() or error_log.read_text().count("Booting worker") < workers:
            assert proc.poll() is None, f"gunicorn exited: {error_log.read_text()}"
            assert time.monotonic() < deadline, f"gunicorn did not boot {workers} workers in 30 s"
            time.sleep(0.05)
        yield Gunicorn(port, proc, error_log, access_log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
