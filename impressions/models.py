"""The raw impression: one row per event id, kept for drill-down and rebuilding."""

from django.db import models


class Impression(models.Model):
    """One recorded ad view. The primary key is the event id, so a resent event is stored once."""

    event_id = models.UUIDField(primary_key=True)
    ad_id = models.CharField(max_length=64)
    user_id = models.CharField(max_length=128)
    occurred_at = models.DateTimeField(help_text="Event time (the event's own timestamp), UTC.")
    recorded_at = models.DateTimeField(help_text="When the database stored it.")

    class Meta:
        indexes = [
            models.Index(fields=["ad_id", "occurred_at"]),
            models.Index(fields=["occurred_at"]),
            models.Index(fields=["recorded_at"]),  # pruning
        ]

    def __str__(self) -> str:
        return f"{self.ad_id} by {self.user_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"
