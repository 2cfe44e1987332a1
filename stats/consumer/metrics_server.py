"""The consumer process's own HTTP server: `GET /metrics` and `GET /readyz`, nothing else.

Started by `runconsumer --metrics-port PORT` on CONSUMER_METRICS_ADDRESS (127.0.0.1 unless
set), in daemon threads beside the loop: a scrape never waits for a batch, and a stuck scrape
never holds the loop.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stats.consumer.metrics import ConsumerMetrics

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Scrapes every few seconds would bury the progress log."""


class MetricsServer:
    """Serves `metrics` until `close()`; `port` is the bound port (useful with port 0)."""

    def __init__(self, metrics: ConsumerMetrics, *, address: str, port: int) -> None:
        self.metrics = metrics
        self._server = make_server(
            address, port, self._app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self.address, self.port = address, int(self._server.server_port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="consumer-metrics", daemon=True
        )
        self._thread.start()
        logger.info("serving /metrics and /readyz on http://%s:%d", address, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", b"GET only\n", "text/plain")
        if path == "/metrics":
            body = generate_latest(self.metrics.registry)
            return _answer(start_response, "200 OK", body, CONTENT_TYPE_LATEST)
        if path == "/readyz":
            checks = self.metrics.readiness()
            failed = [name for name, verdict in checks.items() if verdict != "ok"]
            status = "503 Service Unavailable" if failed else "200 OK"
            answer: dict[str, Any] = {"status": "not ready" if failed else "ready"}
            if failed:
                answer["failed"] = failed
            answer["checks"] = checks
            return _answer(start_response, status, json.dumps(answer).encode(), "application/json")
        return _answer(start_response, "404 Not Found", b"/metrics or /readyz\n", "text/plain")


def _answer(start_response: StartResponse, status: str, body: bytes, kind: str) -> list[bytes]:
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]
