"""The database time of each kind of statement the consumer runs (through Django's cursor:
`COPY` is not among them), so the growth phase can say which statement slows down as the
tables grow, not only that the consumer does."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_TEMP_SUFFIX = re.compile(r"\b(\w+?)_[0-9a-f]{6,}\b")


def kind(sql: str) -> str:
    """A statement's first words, whitespace folded: 'INSERT INTO stats_adminutecount (ad_id'."""
    words = _TEMP_SUFFIX.sub(r"\1", " ".join(sql.split()))
    return words[:64]


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """Seconds spent per statement kind on this thread's connection, while in the block."""
    from django.db import connection

    spent: dict[str, float] = defaultdict(float)

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, ctx)
        finally:
            spent[kind(sql)] += time.perf_counter() - started

    with connection.execute_wrapper(wrapper):
        yield spent


def growth_table(steps: list[tuple[int, int, dict[str, float]]], top: int = 8) -> str:
    """Per statement kind, µs per event in the first and the last step: the `top` biggest
    kinds, the biggest risers first. `steps`: (raw rows stored before the step, events in it,
    seconds per kind)."""
    (first_at, first_n, first), (last_at, last_n, last) = steps[0], steps[-1]
    first, last = defaultdict(float, first), defaultdict(float, last)
    # The biggest statements (in either step), the biggest risers among them first.
    biggest = sorted(
        set(first) | set(last), key=lambda k: -max(last[k] / last_n, first[k] / first_n)
    )[:top]
    kinds = sorted(biggest, key=lambda k: -(last[k] / last_n - first[k] / first_n))
    lines = [
        f"| statement (first words) | µs/event at {first_at / 1e6:g} M stored | "
        f"at {last_at / 1e6:g} M |",
        "|---|---|---|",
    ]
    for k in kinds:
        lines.append(f"| `{k}` | {first[k] / first_n * 1e6:,.1f} | {last[k] / last_n * 1e6:,.1f} |")
    total_first = sum(first.values()) / first_n * 1e6
    total_last = sum(last.values()) / last_n * 1e6
    lines.append(f"| all statements | {total_first:,.1f} | {total_last:,.1f} |")
    return "\n".join(lines)
