"""Graceful shutdown on OS signals: SIGTERM/SIGINT stop the consumer after its batch."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Stoppable(Protocol):
    def stop(self) -> None: ...


@contextmanager
def stop_on_signals(consumer: Stoppable) -> Iterator[None]:
    """The first SIGTERM/SIGINT stops the loop after the batch in hand; a second forces exit."""
    received: list[int] = []

    def handle(signum: int, frame: Any) -> None:
        if received:
            raise SystemExit(128 + signum)  # an open transaction rolls back; nothing is half-done
        received.append(signum)
        logger.info("signal %d received; finishing the batch in hand (again to force)", signum)
        consumer.stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
