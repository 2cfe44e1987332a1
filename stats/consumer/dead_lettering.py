"""Step 2, dead-letter: unusable records go to the sink, acked, before the batch's transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from stats.consumer.ports import DeadLetterSink
from stats.consumer.positions import Positions
from stats.consumer.records import DeadLetter

logger = logging.getLogger(__name__)


class DeadLetterStep:
    """Sends each dead letter once per member, however often its batch is retried.

    Which letters were already acked is position state (`Positions`): kept until the ledger
    moves past them, also across a rebalance that gives the partition back to this member.
    Raises BrokerFailure when the sink cannot get the broker's acknowledgement; nothing of the
    batch is recorded then, and it is retried.
    """

    def __init__(self, sink: DeadLetterSink, positions: Positions) -> None:
        self._sink = sink
        self._positions = positions

    def __call__(self, letters: Sequence[DeadLetter]) -> int:
        """Send the letters not sent yet; return how many were sent now."""
        unsent = set(self._positions.not_yet_dead_lettered(letter.record for letter in letters))
        fresh = [letter for letter in letters if letter.record in unsent]
        if not fresh:
            return 0
        self._sink.send(fresh)
        self._positions.dead_lettered(letter.record for letter in fresh)
        for letter in fresh:
            logger.warning("dead-lettered %s: %.200s", letter.record, letter.reason)
        return len(fresh)
