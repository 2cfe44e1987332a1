"""make bench's table: verdicts against the issue's targets, and the docs page rewritten between
its markers (the rest of the page kept) with the JSON beside it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from bench.report import MEASURED, Row, at_least, at_most, markdown, write_docs  # noqa: E402


def test_verdicts_and_the_page_between_its_markers(tmp_path: Path) -> None:
    rows = [
        Row("P1", "consumer ÷ bare read", "0.12", 0.12, "≥ 0.3", at_least(0.3)),
        Row("P5", "freshness p99", "800 ms", 0.8, "p99 ≤ 1 s", at_most(1.0)),
        Row("skew", "busiest partition", "26%", 0.26),
    ]
    assert [r.verdict() for r in rows] == ["not met", "met", "-"]
    assert "| P5 | freshness p99 | 800 ms | p99 ≤ 1 s | met |" in markdown(rows)

    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nbefore\n\n<!-- bench-table:start -->\nold\n"
                    "<!-- bench-table:end -->\n\nafter\n")  # fmt: skip
    MEASURED["consumer_process"] = 15_000.0
    write_docs(rows, docs=tmp_path, settings_line="defaults", database="PostgreSQL 15")
    text = page.read_text()
    assert "old" not in text and "before" in text and "after" in text
    assert text.count("<!-- bench-table:start -->") == 1
    assert "| P1 | consumer ÷ bare read | 0.12 | ≥ 0.3 | not met |" in text
    saved = json.loads((tmp_path / "benchmarks.json").read_text())
    assert saved["figures"] == {"P1": 0.12, "P5": 0.8, "skew": 0.26}
    assert saved["measured"]["consumer_process"] == 15_000.0
