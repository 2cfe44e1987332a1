"""The dead-letter page: the admin's list of `DeadLetter` (mirrored from `<topic>.dlq` each time
the list opens) with filters, the raw key and value shown escaped, and the actions replay,
discard (with a note) and export (JSON); each dead letter's detail page links to "Fix and
replay" (stats.dead_letter_fix_admin). Thin: every write is a service in
stats.dead_letter_services. Staff only, like the whole admin; the actions need the
`stats.change_deadletter` permission (superusers have it)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from stats import dead_letter_services as services
from stats.dead_letter_fix_admin import fix_view
from stats.kafka_admin import BrokerUnavailable, dead_letter_topic
from stats.models import DeadLetter
from stats.selectors import dead_letters_as_json, open_breakers


class DiscardForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        strip=True,
        help_text="Why these records will not be replayed (kept with who and when).",
    )


def _pre(value: bytes | memoryview | None) -> str:
    if value is None:
        return format_html("<em>{}</em>", "none")
    raw = bytes(value)
    text = raw.decode("utf-8", errors="backslashreplace")
    template = '<pre class="dead-letter-raw">{}</pre> <small>{} bytes</small>'
    return format_html(template, text, len(raw))


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = (
        "position", "dead_lettered_at", "source", "short_reason", "status", "replay_count",
    )  # fmt: skip
    list_display_links = ("position",)
    list_filter = (
        "status", "reason_kind", "dead_lettered_at", "source_partition", "source_topic",
    )  # fmt: skip
    search_fields = ("reason",)
    date_hierarchy = "dead_lettered_at"
    list_per_page = 100
    actions = ["replay", "discard", "export_json"]
    # fmt: off
    fieldsets = (
        ("Dead letter", {"fields": ("dlq_topic", "position", "dead_lettered_at", "status",
                                    "reason")}),
        ("Source record", {"fields": ("source", "source_timestamp", "consumer_group")}),
        ("Raw payload (escaped)", {"fields": ("raw_key", "raw_value", "truncated")}),
        ("Triage", {"fields": ("replay_count", "replayed_at", "replayed_by", "raw_fixed_value",
                               "discarded_at", "discarded_by", "discard_note")}),
        ("Headers", {"fields": ("header_table",)}),
    )
    # fmt: on
    readonly_fields = (
        "position",
        "source",
        "raw_key",
        "raw_value",
        "raw_fixed_value",
        "header_table",
    )  # fmt: skip

    class Media:
        css = {"all": ("stats/dead_letters.css",)}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the detail page is read-only; decisions are the actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_triage_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("stats.change_deadletter"))

    @admin.display(description="dead letter", ordering="dlq_offset")
    def position(self, obj: DeadLetter) -> str:
        return f"{obj.dlq_partition}@{obj.dlq_offset}"

    @admin.display(description="source record", ordering="source_offset")
    def source(self, obj: DeadLetter) -> str:
        return f"{obj.source_topic}[{obj.source_partition}]@{obj.source_offset}"

    @admin.display(description="reason")
    def short_reason(self, obj: DeadLetter) -> str:
        return obj.reason if len(obj.reason) <= 120 else obj.reason[:119] + "…"

    @admin.display(description="key")
    def raw_key(self, obj: DeadLetter) -> str:
        return _pre(obj.key)

    @admin.display(description="value")
    def raw_value(self, obj: DeadLetter) -> str:
        return _pre(obj.value)

    @admin.display(description="fixed value replayed")
    def raw_fixed_value(self, obj: DeadLetter) -> str:
        return _pre(obj.fixed_value)

    @admin.display(description="headers")
    def header_table(self, obj: DeadLetter) -> str:
        rows = format_html_join("", "<tr><th>{}</th><td><code>{}</code></td></tr>", obj.headers)
        return format_html('<table class="dead-letter-headers">{}</table>', rows)

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export.json",
            self.admin_site.admin_view(self.export_matching_view),
            name="stats_deadletter_export",
        )
        fix = path(
            "<path:object_id>/fix/",
            self.admin_site.admin_view(self.fix_and_replay_view),
            name="stats_deadletter_fix",
        )
        return [export, fix, *super().get_urls()]

    def fix_and_replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return fix_view(self, request, object_id)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The read-only detail page, with a "Fix and replay" link for those who may triage."""
        fix_url = None
        if self.has_triage_permission(request):
            fix_url = reverse("admin:stats_deadletter_fix", args=[object_id])
        return super().change_view(
            request, object_id, form_url, {"fix_url": fix_url, **(extra_context or {})}
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """Mirror what is new in the dead-letter topic first (bounded), then list."""
        if request.method == "GET":
            self._sync(request)
        topic = settings.IMPRESSIONS_TOPIC
        context = {
            "dead_letter_topic": dead_letter_topic(topic),
            "open_breakers": open_breakers(
                consumer_group=settings.STATS_CONSUMER_GROUP, topic=topic
            ),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def _sync(self, request: HttpRequest) -> None:
        try:
            result = services.dead_letters_sync(
                topic=settings.IMPRESSIONS_TOPIC,
                max_records=settings.DEAD_LETTER_SYNC_MAX_RECORDS,
                max_seconds=settings.DEAD_LETTER_SYNC_SECONDS,
            )
        except BrokerUnavailable as exc:
            self.message_user(
                request, f"Showing the mirror as it was; could not read the topic: {exc}",
                messages.WARNING,
            )  # fmt: skip
            return
        if not result.caught_up:
            self.message_user(
                request, f"Mirrored {result.read} more dead letters; there are more: reload the"
                " page or run `manage.py syncdeadletters`.", messages.WARNING,
            )  # fmt: skip

    def export_matching_view(self, request: HttpRequest) -> HttpResponse:
        """Every dead letter the list's current filters match, as JSON (400 for a bad filter)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("unknown or malformed filter", content_type="text/plain")
        return self._json(changelist.get_queryset(request))

    @admin.action(description="Replay to the source topic",
                  permissions=["triage"])  # fmt: skip
    def replay(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        try:
            done = services.dead_letters_replay(letters=queryset, user=request.user)
        except BrokerUnavailable as exc:
            self.message_user(request, f"Replay stopped: {exc}", messages.ERROR)
            return
        skipped = []
        if done.skipped_discarded:
            skipped.append(f"{done.skipped_discarded} discarded")
        if done.skipped_truncated:
            skipped.append(f"{done.skipped_truncated} truncated (only a prefix was kept)")
        self.message_user(
            request,
            f"Replayed {done.replayed} dead letters to their source topic."
            + (f" Skipped {' and '.join(skipped)}." if skipped else ""),
            messages.SUCCESS,
        )

    @admin.action(description="Discard (a note is required)",
                  permissions=["triage"])  # fmt: skip
    def discard(
        self, request: HttpRequest, queryset: QuerySet[DeadLetter]
    ) -> TemplateResponse | None:
        form = DiscardForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            count = services.dead_letters_discard(
                letters=queryset, user=request.user, note=form.cleaned_data["note"]
            )
            self.message_user(request, f"Discarded {count} dead letters.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Discard dead letters",
            "opts": self.model._meta,
            "form": form,
            "count": queryset.count(),
            "sample": queryset[:20],
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/stats/deadletter/discard.html", context)

    @admin.action(description="Export as JSON", permissions=["view"])
    def export_json(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> HttpResponse:
        return self._json(queryset)

    def _json(self, queryset: QuerySet[DeadLetter]) -> HttpResponse:
        body = json.dumps({"dead_letters": dead_letters_as_json(queryset)}, indent=2)
        response = HttpResponse(body, content_type="application/json")
        name = f"dead-letters-{timezone.now():%Y%m%dT%H%M%S}.json"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
