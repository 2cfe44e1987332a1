"""`manage.py runconsumer` checks its options before it touches the broker."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command


def test_a_group_name_the_ledger_cannot_hold_is_refused() -> None:
    with pytest.raises(CommandError, match="--group must be 1 to 255 characters"):
        call_command("runconsumer", group="g" * 256)


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("runconsumer", batch_size=0)
