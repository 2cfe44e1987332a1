"""Read-only admin for the raw impressions (written only by `record_impressions`)."""

from django.contrib import admin

from adsite.admin_base import ReadOnlyAdmin
from impressions.models import Impression


@admin.register(Impression)
class ImpressionAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "ad_id", "user_id", "occurred_at", "recorded_at")
    list_filter = ("occurred_at",)
    search_fields = ("=event_id", "ad_id", "user_id")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
