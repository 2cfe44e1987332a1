"""The dead-letter mirror and the dead-letter breaker's state (imported by stats.models).

`DeadLetter` mirrors the records of `<topic>.dlq`, one row per record there, keyed by its own
position; the operator's decisions (replay, discard) live only here. `ConsumerBreaker` holds a
partition the consumer stopped dead-lettering, so that the web's readiness check can see it.
"""

from django.conf import settings
from django.db import models


class DeadLetter(models.Model):
    """One record of a dead-letter topic, as `services.dead_letters_sync` copied it, and what
    an operator decided about it."""

    class Status(models.TextChoices):
        NEW = "new", "new"
        REPLAYED = "replayed", "replayed"
        DISCARDED = "discarded", "discarded"

    dlq_topic = models.CharField(max_length=255)
    dlq_partition = models.PositiveIntegerField()
    dlq_offset = models.BigIntegerField()
    dead_lettered_at = models.DateTimeField(help_text="The .dlq record's timestamp.")
    source_topic = models.CharField(max_length=255)
    source_partition = models.IntegerField(null=True)
    source_offset = models.BigIntegerField(null=True)
    source_timestamp = models.DateTimeField(null=True)
    consumer_group = models.CharField(max_length=255, blank=True)
    key = models.BinaryField(null=True)
    value = models.BinaryField(null=True)
    reason = models.TextField()
    reason_kind = models.CharField(
        max_length=100, help_text="The reason up to its first colon, to filter by."
    )
    headers = models.JSONField(default=list, help_text="[name, value as text] of every header.")
    truncated = models.BooleanField(default=False, help_text="The copy is only a prefix.")
    replay_count = models.PositiveIntegerField(
        default=0, help_text="Replays the record had been through when it was dead-lettered."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    replayed_at = models.DateTimeField(null=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    discarded_at = models.DateTimeField(null=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    discard_note = models.TextField(blank=True)
    fixed_value = models.BinaryField(
        null=True, help_text="The value an operator fixed and replayed instead of `value`."
    )
    mirrored_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dlq_topic", "dlq_partition", "dlq_offset"], name="deadletter_position_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["new", "replayed", "discarded"]),
                name="deadletter_status_known",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="discarded") | ~models.Q(discard_note=""),
                name="deadletter_discard_has_note",
            ),
        ]
        indexes = [
            models.Index(fields=["dead_lettered_at"]),
            models.Index(fields=["status", "reason_kind"]),
        ]
        ordering = ["-dead_lettered_at", "-id"]

    def __str__(self) -> str:
        return f"{self.dlq_topic}[{self.dlq_partition}]@{self.dlq_offset}"


class ConsumerBreaker(models.Model):
    """A partition whose consumer stopped dead-lettering (too many invalid records): it is
    paused at `held_at`, the ledger's offset. The consumer writes the row when the breaker
    opens and deletes it when the partition changes owner or the consumer closes."""

    consumer_group = models.CharField(max_length=255)
    topic = models.CharField(max_length=255)
    partition = models.PositiveIntegerField()
    held_at = models.BigIntegerField()
    reason = models.TextField()
    reason_kind = models.CharField(
        max_length=100, help_text="The reason up to its first colon, to filter by."
    )
    opened_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["consumer_group", "topic", "partition"], name="consumerbreaker_key_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.consumer_group} {self.topic}[{self.partition}] held at {self.held_at}"
