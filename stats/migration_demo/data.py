"""What `/demo/migration/` shows, as one JSON-ready dict: both paths' figures, the stall, the
consumer's lag (with its last minute), the time-to-visible of to-be events, and the totals.

Reads only: the traffic's own measurements (impressions.simulation.live), the stall's state
(impressions.db_stall), the ledger and the broker's end offsets (lag), the minute counters
(what the statistics counted per path). A few statements per call, whatever the run's size.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from django.conf import settings
from django.db.models import Sum

from impressions.db_stall import stall_status
from impressions.simulation import live
from impressions.simulation.probes import probe_visibility
from stats import kafka_admin
from stats.models import AdMinuteCount
from stats.selectors import stored_offsets

LAG_HISTORY_SECONDS = 60
_lag_history: deque[tuple[float, int | None]] = deque(maxlen=LAG_HISTORY_SECONDS * 4)
_lag_lock = threading.Lock()


def consumer_lag() -> int | None:
    """Records on the topic the consumer group has not recorded yet (None: broker unreachable)."""
    group, topic = settings.STATS_CONSUMER_GROUP, settings.IMPRESSIONS_TOPIC
    try:
        ends = kafka_admin.end_offsets(topic)
    except kafka_admin.BrokerUnavailable:
        return None
    done = stored_offsets(consumer_group=group, topic=topic)
    return sum(max(end - done.get(partition, 0), 0) for partition, end in ends.items())


def _lag_with_history(now: float) -> dict[str, Any]:
    lag = consumer_lag()
    with _lag_lock:
        if not _lag_history or now - _lag_history[-1][0] >= 0.5:
            _lag_history.append((now, lag))
        recent = [(t, n) for t, n in _lag_history if now - t <= LAG_HISTORY_SECONDS]
    known = [n for _, n in recent if n is not None]
    return {
        "now": lag,
        "peak": max(known, default=None),
        "series": {"t": [round(t, 1) for t, _ in recent], "lag": [n for _, n in recent]},
    }


def counted(ad_ids: list[str]) -> int:
    """Impressions the statistics counted for these ads (all time)."""
    total = AdMinuteCount.objects.filter(ad_id__in=ad_ids).aggregate(n=Sum("impressions"))["n"]
    return int(total or 0)


def _visibility(run: live.TrafficRun | None, now: float) -> dict[str, Any]:
    probes = probe_visibility(run.probes) if run else []
    recent = [p for p in probes if now - p.sent_at <= LAG_HISTORY_SECONDS]
    seen = [p.visible_after for p in recent if p.visible_after is not None]
    waiting = [now - p.sent_at for p in recent if p.visible_after is None]
    return {
        "latest_s": round(seen[-1], 2) if seen else None,
        "longest_waiting_s": round(max(waiting), 2) if waiting else None,
        "series": {
            "t": [round(p.sent_at, 1) for p in recent],
            "seconds": [
                round(p.visible_after if p.visible_after is not None else now - p.sent_at, 2)
                for p in recent
            ],
        },
    }


def _totals(run: live.TrafficRun | None, lag: int | None) -> dict[str, Any]:
    if run is None:
        return {"shown": False, "why": "no traffic run yet"}
    paths = {
        path: {"accepted": lane.accepted, "counted": counted(lane.ads)}
        for path, lane in run.paths.items()
    }
    settled = not run.running and lag == 0
    equal = all(p["accepted"] == p["counted"] for p in paths.values())
    why = "" if settled else ("traffic is running" if run.running else "waiting for lag 0")
    return {"shown": True, "final": settled, "why": why, "equal": equal, **paths}


def migration_snapshot() -> dict[str, Any]:
    """Everything the page draws, now."""
    now = time.time()
    run = live.current_run()
    stall = stall_status()
    lag = _lag_with_history(now)
    return {
        "now": round(now, 3),
        "controls": settings.DEMO_CONTROLS,
        "traffic": {
            "running": bool(run and run.running),
            "rate": run.rate if run else None,
            "run_id": run.run_id if run else None,
            "started": run.started if run else None,
        },
        "stall": {"active": stall.active, "until": stall.until, "seconds_left": stall.seconds_left},
        "paths": live.path_figures(run, now=now) if run else {},
        "lag": lag,
        "visibility": _visibility(run, now),
        "totals": _totals(run, lag["now"]),
    }
