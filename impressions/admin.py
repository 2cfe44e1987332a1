from django.contrib import admin

from impressions.models import Impression
from stats.admin import ReadOnlyAdmin


@admin.register(Impression)
class ImpressionAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "ad_id", "user_id", "occurred_at", "recorded_at")
    list_filter = ("occurred_at",)
    search_fields = ("=event_id", "ad_id", "user_id")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
