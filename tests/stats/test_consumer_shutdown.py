"""Graceful shutdown (stats/consumer/shutdown.py): the first signal asks for a clean stop, a
second one forces the exit."""

from __future__ import annotations

import os
import signal

import pytest

from stats.consumer import stop_on_signals


class Recorder:
    def __init__(self) -> None:
        self.stops = 0

    def stop(self) -> None:
        self.stops += 1


@pytest.mark.parametrize("first", [signal.SIGTERM, signal.SIGINT])
def test_first_signal_stops_cleanly_second_forces_exit(first: signal.Signals) -> None:
    consumer = Recorder()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as forced:
        with stop_on_signals(consumer):
            os.kill(os.getpid(), first)
            assert consumer.stops == 1  # asked to finish the batch in hand, not killed
            os.kill(os.getpid(), signal.SIGTERM)
    assert forced.value.code == 128 + signal.SIGTERM
    assert consumer.stops == 1
    assert signal.getsignal(signal.SIGTERM) is before  # handlers are put back
