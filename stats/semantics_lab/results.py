"""The last table the lab printed: stored by `lab_table_save`, read by `lab_table_last` (the
staff page)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from stats.semantics_lab.models import SemanticsLabRow
from stats.semantics_lab.plan import LabRow


@transaction.atomic
def lab_table_save(*, run_id: str, rows: list[LabRow], finished_at: datetime | None = None) -> None:
    """Store `rows` as the last table, replacing the one before."""
    finished_at = finished_at or timezone.now()
    SemanticsLabRow.objects.exclude(run_id=run_id).delete()
    SemanticsLabRow.objects.bulk_create(
        SemanticsLabRow(run_id=run_id, finished_at=finished_at, position=i, **asdict(row))
        for i, row in enumerate(rows)
    )


def lab_table_last() -> list[SemanticsLabRow]:
    """The rows of the last table, in printed order (one statement); empty before any run."""
    return list(SemanticsLabRow.objects.order_by("position"))
