"""The record key: the ad id by default; with buckets, the ad id plus a stable bucket of the
event id (IMPRESSIONS_KEY_BUCKETS)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

from impressions.contract import AdImpressionEvent, event_key, is_ad_id
from tests.conftest import ROOT

T = datetime(2026, 12, 1, tzinfo=UTC)


def event(n: int, ad: str = "ad-7") -> AdImpressionEvent:
    return AdImpressionEvent(1, uuid.UUID(int=n), ad, "u-1", T)


def test_without_buckets_the_key_is_the_ad_id() -> None:
    assert event_key(event(1)) == b"ad-7"
    assert event_key(event(1), buckets=0) == b"ad-7"


def test_buckets_spread_one_ad_over_n_stable_keys() -> None:
    keys = [event_key(event(n), buckets=8) for n in range(400)]
    assert set(keys) == {f"ad-7:{b}".encode() for b in range(8)}
    assert all(is_ad_id(k.decode()) for k in keys)  # a dead letter's key stays replayable
    # A resent event (same id) gets the same key, so it lands in the same partition.
    assert [event_key(event(n), buckets=8) for n in range(400)] == keys
    assert event_key(event(5), buckets=1) == b"ad-7:0"


def test_a_bad_bucket_count_stops_the_settings_with_what_to_set() -> None:
    env = {
        **os.environ,
        "IMPRESSIONS_KEY_BUCKETS": "-1",
        "DJANGO_SETTINGS_MODULE": "adsite.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "IMPRESSIONS_KEY_BUCKETS must be 0" in done.stderr
