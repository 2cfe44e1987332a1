"""Where a newly assigned partition resumes, given the ledger and the topic's retained range."""

from __future__ import annotations

import pytest

from stats.consumer.positions import LedgerAheadOfTopic, report_expired, resume_offset
from stats.consumer.records import Partition


@pytest.mark.parametrize(
    ("stored", "first", "end", "expected"),
    [
        (None, 0, 100, 0),  # never recorded: from the first retained record
        (None, 40, 100, 40),
        (70, 0, 100, 70),  # the usual case: where the ledger says
        (100, 0, 100, 100),  # caught up
        (0, 0, 0, 0),  # empty partition
        (10, 30, 100, 30),  # 10..29 expired before they were recorded
    ],
)
def test_resume_offset(stored: int | None, first: int, end: int, expected: int) -> None:
    partition = Partition("t", 0)
    assert resume_offset(partition=partition, stored=stored, first=first, end=end) == expected


def test_a_ledger_past_the_end_is_refused() -> None:
    with pytest.raises(LedgerAheadOfTopic, match=r"t\[2\] up to offset 101 .* ends at 100"):
        resume_offset(partition=Partition("t", 2), stored=101, first=0, end=100)


def test_expired_offsets_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert report_expired(Partition("t", 1), 10, 30) == 20
    assert "t[1]: offsets 10..29 expired" in caplog.text
