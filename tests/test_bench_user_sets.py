"""scripts/bench_user_sets.py on the real PostgreSQL test database: the four layouts store the
same memberships, and the run stops when a layout's count is off."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import database_url

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "bench_user_sets", ROOT / "scripts/bench_user_sets.py"
)
assert _spec is not None and _spec.loader is not None
bench_user_sets = importlib.util.module_from_spec(_spec)
sys.modules["bench_user_sets"] = bench_user_sets  # dataclasses look their module up there
_spec.loader.exec_module(bench_user_sets)


@pytest.fixture
def postgres_url(transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    url = database_url()
    if not url.startswith("postgres://"):
        pytest.fail("bench_user_sets measures PostgreSQL: run this test on the PostgreSQL pass")
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_every_layout_stores_the_same_memberships(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Few users, so batches repeat memberships and bitmaps are read back and added to.
    bench_user_sets.main(["--events", "4000", "--batch-size", "500", "--users", "300"])
    out = capsys.readouterr().out
    events = list(bench_user_sets.triples(4000, ads=1000, users=300, days=7, seed=13))
    distinct = len(
        {(ad, user, day) for ad, user, day in events} | {(-1, u, d) for _, u, d in events}
    )
    assert f"memberships checked: {distinct:,} in every layout" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    names = [row.split(" | ")[0].removeprefix("| ") for row in rows[1:]]
    assert names == ["rows-text", "rows-text-lean", "rows-int", "roaring"]


def test_a_layout_that_miscounts_stops_the_run(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Miscounting(bench_user_sets.RowsInt):  # type: ignore[name-defined]
        def add(self, cursor: Any, batch: list[tuple[int, int, int]]) -> int:
            return int(super().add(cursor, batch)) + (1 if len(batch) < 500 else 0)

    monkeypatch.setitem(bench_user_sets.LAYOUTS, "rows-int", Miscounting)
    with pytest.raises(SystemExit, match="rows-int: .* new memberships in a batch, not "):
        bench_user_sets.main(["--events", "1200", "--batch-size", "500", "--layouts", "rows-int"])
