"""The benchmark's table: each row a figure, the issue's target and whether it is met; printed,
and written into docs/benchmarks.md (between markers) and docs/benchmarks.json."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
# Per-process figures the phases note as they go (events/s, bytes), for scripts/scaling_table.py.
MEASURED: dict[str, float] = {}


@dataclass(frozen=True)
class Row:
    """One line of the table. `value` is the number a target is checked on (None: none);
    `target` says it in words; `meets` decides (None: a figure with no target)."""

    key: str
    what: str
    figure: str
    value: float | None = None
    target: str = "-"
    meets: Callable[[float], bool] | None = None

    def verdict(self) -> str:
        if self.meets is None or self.value is None:
            return "-"
        return "met" if self.meets(self.value) else "not met"


def at_least(bound: float) -> Callable[[float], bool]:
    return lambda value: value >= bound


def at_most(bound: float) -> Callable[[float], bool]:
    return lambda value: value <= bound


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| | what | figure | target | |", "|---|---|---|---|---|"]
    lines += [f"| {r.key} | {r.what} | {r.figure} | {r.target} | {r.verdict()} |" for r in rows]
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def write_docs(
    rows: Sequence[Row], *, docs: Path, settings_line: str, database: str, note: str = ""
) -> None:
    """Replace the table between the markers in docs/benchmarks.md (appended when missing) and
    write docs/benchmarks.json: {"date", "machine", "settings", "figures": {row key: value},
    "measured": MEASURED} for scripts/scaling_table.py."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = "\n".join(
        [
            START,
            f"Latest `make bench` ({when}; {machine()}; {database}; {settings_line}){note}:",
            "",
            markdown(rows),
            END,
        ]
    )
    page = docs / "benchmarks.md"
    text = page.read_text() if page.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    page.write_text(text)
    figures = {r.key: r.value for r in rows if r.value is not None}
    payload = {
        "date": when,
        "machine": machine(),
        "settings": settings_line,
        "figures": figures,
        "measured": MEASURED,
    }
    (docs / "benchmarks.json").write_text(json.dumps(payload, indent=2) + "\n")
