"""Read-only admin for the aggregates and the offset ledger (the consumer is their only writer)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from stats.models import AdDailyUser, AdMinuteCount, PartitionOffset


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse, filter and search; never add, change or delete through the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
