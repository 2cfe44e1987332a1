"""The only part of the simulation that talks to the network: one kept-alive HTTP connection to
one ingest path, with the standard library (`http.client`)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit

from impressions.simulation.report import Outcome
from impressions.simulation.traffic import Event

# --path: (HTTP method, path on the site, the status that means "accepted").
PATHS: dict[str, tuple[str, str, int]] = {
    "to-be": ("POST", "/api/impressions/", 202),
    "as-is": ("POST", "/api/impressions/sync/", 201),
    "pixel": ("GET", "/i.gif", 200),
}
USER_AGENT = "adstats-simulate/1"


def _failure(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return f"connection error ({exc.__class__.__name__})"


def _ack_at_once(connection: http.client.HTTPConnection) -> None:
    """Acknowledge the answer's first segment at once (Linux). A WSGI server such as runserver
    writes the headers and the body in two sends with Nagle's algorithm on, so the body waits for
    the ACK of the headers, which the client delays by 40 ms on a kept-alive connection: without
    this, one connection manages about 20 requests a second instead of hundreds."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None and connection.sock is not None:
        try:
            connection.sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
        except OSError:
            pass


class HttpSender:
    """Sends batches of events to one ingest path over a kept-alive HTTP connection."""

    def __init__(self, base_url: str, path: str, *, timeout: float = 10.0):
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"--url must be an http:// or https:// URL, got {base_url!r}")
        if path not in PATHS:
            raise ValueError(f"unknown path {path!r}; choose one of {', '.join(PATHS)}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.method, self.target, self.expected = PATHS[path]
        self.path = path
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._connection = kind(self.host, self.port, timeout=self.timeout)
        return self._connection

    def request_for(self, events: Sequence[Event]) -> tuple[str, bytes | None, dict[str, str]]:
        """The target URL, body and headers of one request carrying `events`."""
        headers = {"User-Agent": USER_AGENT}
        if self.path == "pixel":
            (event,) = events
            return f"{self.prefix}{self.target}?{urlencode(event)}", None, headers
        headers["Content-Type"] = "application/json"
        payload = events[0] if len(events) == 1 else list(events)
        return f"{self.prefix}{self.target}", json.dumps(payload).encode(), headers

    def send(self, events: Sequence[Event]) -> Outcome:
        target, body, headers = self.request_for(events)
        # A kept-alive connection the server has closed meanwhile fails at once: try once more
        # on a new one. Safe to repeat: every event carries its event id, counted once.
        for attempt in (1, 2):
            reused = self._connection is not None
            try:
                connection = self._connect()
                connection.request(self.method, target, body=body, headers=headers)
                _ack_at_once(connection)
                response = connection.getresponse()
                response.read()  # the whole answer, so the connection can be reused
                break
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if not (reused and attempt == 1):
                    return Outcome(accepted=False, reason=_failure(exc))
        if response.will_close:
            self.close()
        if response.status == self.expected:
            return Outcome(accepted=True)
        return Outcome(accepted=False, reason=str(response.status))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
