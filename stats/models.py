"""Aggregate tables kept by the recording function, and the consumer's partition-offset ledger."""

from django.db import models


class AdMinuteCount(models.Model):
    """Impressions of one ad in one UTC minute of event time; hours and days are sums of these."""

    ad_id = models.CharField(max_length=64)
    minute = models.DateTimeField(help_text="Start of the UTC minute.")
    impressions = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ad_id", "minute"], name="adminutecount_ad_minute_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(impressions__gt=0), name="adminutecount_impressions_positive"
            ),
        ]
        indexes = [models.Index(fields=["minute"])]

    def __str__(self) -> str:
        return f"{self.ad_id} {self.minute:%Y-%m-%d %H:%M}: {self.impressions}"


class AdDailyUser(models.Model):
    """One user who saw one ad on one UTC day: exact unique users are counts of these rows."""

    ad_id = models.CharField(max_length=64)
    day = models.DateField()
    user_id = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ad_id", "day", "user_id"], name="addailyuser_ad_day_user_uniq"
            )
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.ad_id} {self.day}: {self.user_id}"


class PartitionOffset(models.Model):
    """Next offset to read per consumer group and partition, stored with the rows it produced."""

    consumer_group = models.CharField(max_length=255)
    topic = models.CharField(max_length=255)
    partition = models.PositiveIntegerField()
    next_offset = models.BigIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["consumer_group", "topic", "partition"], name="partitionoffset_key_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(next_offset__gte=0), name="partitionoffset_offset_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.consumer_group} {self.topic}[{self.partition}] @ {self.next_offset}"
