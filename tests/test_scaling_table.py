"""scripts/scaling_table.py's arithmetic, on figures chosen so the answers are easy to check."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("scaling_table", ROOT / "scripts/scaling_table.py")
assert _spec is not None and _spec.loader is not None
scaling_table = importlib.util.module_from_spec(_spec)
sys.modules["scaling_table"] = scaling_table  # dataclasses look their module up there
_spec.loader.exec_module(scaling_table)

FIGURES = {
    "measured": {
        "consumer_process": 20_000.0,
        "growth_ratio": 0.5,
        "two_processes_uniform": 25_000.0,
        "to_be_batched_events": 60_000.0,
        "to_be_single_events": 500.0,
        "web_cores": 2.0,
        "event_bytes": 150.0,
        "bytes_per_event": 400.0,
    }
}


def test_the_plan_for_100000_events_a_second() -> None:
    measured = scaling_table.Measured.from_json(FIGURES)
    assert measured.database_node == 25_000  # the better of one and two processes
    plan = scaling_table.plan(measured, target=100_000, headroom=0.5)
    # consumer: 20,000 × 0.5 (growth) × 0.5 (headroom) = 5,000/s each → 20 processes
    assert plan.consumer_processes == 20
    assert plan.partitions == 40
    # database: 25,000 × 0.5 × 0.5 = 6,250/s a node → 16 nodes
    assert plan.database_nodes == 16
    # web: 30,000/s per core × 0.5 = 15,000 → 7 cores; 250 × 0.5 = 125 → 800 cores
    assert plan.web_cores_batched == 7
    assert plan.web_cores_single == 800
    # broker: 100,000 × 150 B × 3 replicas = 45 MB/s; × 86,400 s × 7 days = 27.2 TB
    assert plan.broker_mb_per_s == pytest.approx(45.0)
    assert plan.broker_tb == pytest.approx(27.216)
    # database: 100,000 × 400 B × 86,400 s = 3.456 TB a day
    assert plan.database_tb_per_day == pytest.approx(3.456)


def test_growth_never_counts_as_a_speed_up_and_the_table_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faster = {"measured": {**FIGURES["measured"], "growth_ratio": 1.3}}
    assert scaling_table.Measured.from_json(faster).growth_ratio == 1.0
    figures = tmp_path / "benchmarks.json"
    figures.write_text(json.dumps(faster))
    scaling_table.main(["--figures", str(figures), "--headroom", "0.5"])
    printed = capsys.readouterr().out
    assert "| consumer processes | 20,000/s each × 1.00 (growth) | 10 |" in printed
    assert "At 100,000 events/s (8.64 B a day)" in printed
