"""`make bench`: every ratio of issue 13 in one run (P1-P6, scale-out, growth); see
docs/benchmarks.md and `--help`. The work is in scripts/bench/."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.environment import ensure_database  # noqa: E402 (bench_read uses it)
from bench.main import main  # noqa: E402

__all__ = ["ensure_database", "main"]

if __name__ == "__main__":
    main()
