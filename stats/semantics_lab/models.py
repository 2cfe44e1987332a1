"""The lab's own tables: the counts of the at-least-once and at-most-once consumers, and the
last table `semanticslab` printed. Nothing here touches the statistics tables' columns."""

from django.db import models


class LabAdCount(models.Model):
    """Impressions of one ad counted by an at-least-once or at-most-once consumer group, for one
    topic. Those modes count events without the event-id check, so they keep their own counts
    here rather than in the statistics tables (which promise exactly-once)."""

    consumer_group = models.CharField(max_length=255)
    topic = models.CharField(max_length=255)
    ad_id = models.CharField(max_length=64)
    impressions = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["consumer_group", "topic", "ad_id"], name="labadcount_key_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.consumer_group} {self.topic} {self.ad_id}: {self.impressions}"


class SemanticsLabRow(models.Model):
    """One row of a table `semanticslab` printed; the rows of the latest `run_id` are shown."""

    run_id = models.CharField(max_length=32, db_index=True)
    finished_at = models.DateTimeField()
    position = models.PositiveSmallIntegerField()
    mode = models.CharField(max_length=32)
    sent = models.PositiveIntegerField()
    counted = models.PositiveIntegerField()
    lost = models.PositiveIntegerField()
    double_counted = models.PositiveIntegerField()
    seconds = models.FloatField()
    crashes = models.PositiveIntegerField()
    crash_point = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run_id", "position"], name="semanticslabrow_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.mode}"
