"""Read-only admin for the aggregates and the offset ledger (the consumer is their only writer)."""

from django.contrib import admin

from adsite.admin_base import ReadOnlyAdmin
from stats import dead_letter_admin  # noqa: F401 - registers the dead-letter page
from stats.models import AdDailyUser, AdMinuteCount, PartitionOffset

admin.site.site_header = "Ad-impression statistics"
admin.site.site_title = "Ad-impression statistics"


@admin.register(AdMinuteCount)
class AdMinuteCountAdmin(ReadOnlyAdmin):
    list_display = ("ad_id", "minute", "impressions")
    list_filter = ("minute",)
    search_fields = ("ad_id",)
    date_hierarchy = "minute"


@admin.register(AdDailyUser)
class AdDailyUserAdmin(ReadOnlyAdmin):
    list_display = ("ad_id", "day", "user_id")
    list_filter = ("day",)
    search_fields = ("ad_id", "user_id")
    date_hierarchy = "day"


@admin.register(PartitionOffset)
class PartitionOffsetAdmin(ReadOnlyAdmin):
    list_display = ("consumer_group", "topic", "partition", "next_offset", "updated_at")
    list_filter = ("consumer_group", "topic")
    search_fields = ("consumer_group", "topic")
