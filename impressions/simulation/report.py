"""What the simulation counts and prints: the tally, the progress line and the summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Events sent, accepted, and refused by reason (`503`, `429`, `connection refused`, ...)."""

    requests: int = 0
    sent: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def add(self, outcome: Outcome, events: int) -> None:
        self.requests += 1
        self.sent += events
        if outcome.accepted:
            self.accepted += events
        else:
            self.refused[outcome.reason] += events


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    reason: str = ""  # the status code, or what went wrong with the connection


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_line(
    tally: Tally, *, elapsed: float, duration: float, width: int = 20, tty: bool = True
) -> str:
    """One line: a bar when the duration is known, elapsed time, counts, achieved rate."""
    rate = tally.sent / elapsed if elapsed > 0 else 0.0
    counts = (
        f"sent {tally.sent}  accepted {tally.accepted}  refused {tally.refused_total}  "
        f"{rate:.1f} events/s"
    )
    if duration > 0:
        done = min(elapsed / duration, 1.0)
        filled = int(done * width)
        bar = "#" * filled + "-" * (width - filled)
        return f"[{bar}] {done:4.0%}  {_clock(elapsed)}/{_clock(duration)}  {counts}"
    return f"{_clock(elapsed)}  {counts}" + ("  (Ctrl+C stops)" if tty else "")


def summary_lines(tally: Tally, *, elapsed: float, target_rate: float) -> list[str]:
    rate = tally.sent / elapsed if elapsed > 0 else 0.0
    reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(tally.refused.items()))
    lines = [
        f"  sent:     {tally.sent} events in {tally.requests} requests",
        f"  accepted: {tally.accepted}",
        f"  refused:  {tally.refused_total}" + (f" ({reasons})" if reasons else ""),
        f"  rate:     {rate:.1f} events/s achieved (target {target_rate:g}) over {elapsed:.1f} s",
    ]
    if elapsed >= 2 and rate < 0.9 * target_rate:
        lines.append(
            "  (the site answered too slowly for the target: requests go one at a time over one "
            "connection; --batch N sends N events per request)"
        )
    return lines
