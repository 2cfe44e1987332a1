"""The staff page that shows the lab's last table (wrapped by admin_view in the root urls)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from stats.semantics_lab.results import lab_table_last

EXPLAINED = {
    "at-most-once": "commits the offsets to Kafka before recording: a crash in between loses "
    "the batch",
    "at-least-once": "records, then commits the offsets to Kafka: a crash in between counts "
    "the batch again",
    "exactly-once": "records the offsets in the same database transaction and deduplicates "
    "event ids: a crash anywhere neither loses nor double-counts",
}


def semantics_lab_view(request: HttpRequest) -> TemplateResponse:
    rows = lab_table_last()
    return TemplateResponse(
        request,
        "admin/stats/semantics_lab.html",
        {
            **admin.site.each_context(request),
            "title": "Delivery-semantics lab",
            "rows": [(row, EXPLAINED.get(row.mode, "")) for row in rows],
            "finished_at": rows[0].finished_at if rows else None,
        },
    )
