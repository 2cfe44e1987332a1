"""Aggregate tables kept by the recording function, and the consumer's partition-offset ledger.

Impressions are counted per UTC minute, hour and day of event time (three tables written by the
same statement group, so a read of any range touches few rows). Unique users are exact: one
`AdDailyUser` row per (ad, UTC day, user), and `AdDailyReach` counts those rows by the user's
previous day with the ad, which turns "distinct users over days d1..d2" into a sum (see
`AdDailyReach`). Site-wide unique users are kept under the pseudo ad id `ALL_ADS`.
"""

from django.db import models

ALL_ADS = "*"
"""Pseudo ad id of the site-wide user set and reach; the contract forbids `*` in real ad ids."""


def _positive(model: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(impressions__gt=0), name=f"{model}_impressions_positive"
    )


class AdMinuteCount(models.Model):
    """Impressions of one ad in one UTC minute of event time."""

    ad_id = models.CharField(max_length=64)
    minute = models.DateTimeField(help_text="Start of the UTC minute.")
    impressions = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ad_id", "minute"], name="adminutecount_ad_minute_uniq"
            ),
            _positive("adminutecount"),
        ]
        indexes = [models.Index(fields=["minute"])]

    def __str__(self) -> str:
        return f"{self.ad_id} {self.minute:%Y-%m-%d %H:%M}: {self.impressions}"


class AdHourCount(models.Model):
    """Impressions of one ad in one UTC hour: always the sum of its minutes (a rollup)."""

    ad_id = models.CharField(max_length=64)
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    impressions = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ad_id", "hour"], name="adhourcount_ad_hour_uniq"),
            _positive("adhourcount"),
        ]
        indexes = [models.Index(fields=["hour"])]

    def __str__(self) -> str:
        return f"{self.ad_id} {self.hour:%Y-%m-%d %H:00}: {self.impressions}"


class AdDayCount(models.Model):
    """Impressions of one ad on one UTC day: always the sum of its minutes (a rollup)."""

    ad_id = models.CharField(max_length=64)
    day = models.DateField()
    impressions = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ad_id", "day"], name="addaycount_ad_day_uniq"),
            _positive("addaycount"),
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.ad_id} {self.day}: {self.impressions}"


class AdDailyUser(models.Model):
    """One user who saw one ad (or any ad: `ALL_ADS`) on one UTC day.

    The unique key leads with (ad, user) so the recording function finds a user's other days
    with an ad by index when it maintains `AdDailyReach`.
    """

    ad_id = models.CharField(max_length=64)
    day = models.DateField()
    user_id = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ad_id", "user_id", "day"], name="addailyuser_ad_user_day_uniq"
            )
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.ad_id} {self.day}: {self.user_id}"


class AdDailyReach(models.Model):
    """How many users saw an ad on `day` whose previous day with that ad was `previous_day`.

    `previous_day` equals `day` for a user's first day with the ad. The distinct users of an ad
    over the days d1..d2 are then exactly the users whose day lies in d1..d2 and whose previous
    day lies before d1 (or who had none): `SUM(users) WHERE day BETWEEN d1 AND d2 AND
    (previous_day < d1 OR previous_day = day)`, a sum over at most a few rows per day instead
    of a distinct count over every (day, user) row. Kept by the recording function from
    `AdDailyUser` in the same transaction; a test checks it against COUNT(DISTINCT).
    """

    ad_id = models.CharField(max_length=64)
    day = models.DateField()
    previous_day = models.DateField()
    # Not a Positive field: the recording function adds signed differences in one upsert, and
    # PostgreSQL checks CHECK constraints on the proposed row before it turns into an update.
    users = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ad_id", "day", "previous_day"], name="addailyreach_key_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(previous_day__lte=models.F("day")),
                name="addailyreach_previous_not_after_day",
            ),
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.ad_id} {self.day} (previous {self.previous_day}): {self.users}"


class KnownUser(models.Model):
    """Every user the recording function has counted: one row each.

    On PostgreSQL a transaction locks its users' rows (in key order) before it maintains
    `AdDailyReach`, so concurrent writers (consumers, as-is requests) of the same user take
    turns. Row locks live in the rows themselves, so a batch of thousands of users needs no
    shared lock-table entries (advisory locks ran out of them at 10,000 users per batch).
    """

    user_id = models.CharField(max_length=128, primary_key=True)

    def __str__(self) -> str:
        return self.user_id


class PartitionOffset(models.Model):
    """Next offset to read per consumer group and partition, stored with the rows it produced.

    `topic_identity` names the log those offsets belong to (Kafka's topic id), so that a topic
    deleted and recreated under the same name is refused instead of resumed at an offset of
    the old one; a row without it adopts the first identity the consumer sees.
    `expired_unrecorded` counts records that left the log (retention) before they were recorded.
    """

    consumer_group = models.CharField(max_length=255)
    topic = models.CharField(max_length=255)
    partition = models.PositiveIntegerField()
    next_offset = models.BigIntegerField()
    updated_at = models.DateTimeField()
    # NULL, not "": not known yet (a row written before identities were stored).
    topic_identity = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    expired_unrecorded = models.PositiveBigIntegerField(default=0)

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


class PartitionProgress(models.Model):
    """How far one group has read one partition in time, written with the ledger.

    `read_through` is the Kafka timestamp (publish time) of the last record recorded, or the
    instant the consumer saw the partition caught up (its next offset at the end offset it was
    just told), whichever is later; it never moves back. stats.watermark turns the rows of every
    partition of a topic into `TopicCompleteness.complete_through`.
    """

    consumer_group = models.CharField(max_length=255)
    topic = models.CharField(max_length=255)
    partition = models.PositiveIntegerField()
    read_through = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["consumer_group", "topic", "partition"], name="partitionprogress_key_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.consumer_group} {self.topic}[{self.partition}] through {self.read_through}"


class PartitionLagSample(models.Model):
    """One sample of a partition's position for the lag verdict (stats.lag_verdict).

    A ring: `slot` is the sample's time divided by the sampling interval, modulo
    lag_verdict.SAMPLE_SLOTS, so a partition never holds more than SAMPLE_SLOTS rows.
    `next_offset` is the ledger's value when the sample was taken, `end_offset` the partition's
    end offset the consumer was told at that instant.
    """

    consumer_group = models.CharField(max_length=255)
    topic = models.CharField(max_length=255)
    partition = models.PositiveIntegerField()
    slot = models.PositiveSmallIntegerField()
    taken_at = models.DateTimeField()
    next_offset = models.BigIntegerField()
    end_offset = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["consumer_group", "topic", "partition", "slot"],
                name="partitionlagsample_key_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"{self.consumer_group} {self.topic}[{self.partition}] @ {self.next_offset}"


class TopicCompleteness(models.Model):
    """Up to which instant one group's statistics of one topic are complete, and late events.

    `complete_through` only moves forward (the recording function keeps the maximum);
    `partitions` is the largest partition count a consumer reported for the topic, so a
    partition nobody has read holds the watermark back. `late_events` counts events recorded
    with an event time before `complete_through` as it stood when they were recorded.
    """

    consumer_group = models.CharField(max_length=255)
    topic = models.CharField(max_length=255)
    partitions = models.PositiveIntegerField(default=0)
    complete_through = models.DateTimeField(null=True)
    late_events = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["consumer_group", "topic"], name="topiccompleteness_key_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.consumer_group} {self.topic} complete through {self.complete_through}"


STATISTICS = (AdMinuteCount, AdHourCount, AdDayCount, AdDailyUser, AdDailyReach, KnownUser)
"""Every table the recording function derives from raw impressions (what a rebuild empties)."""


# The dead-letter mirror and the breaker's state live in their own module (Django finds them
# through this import).
from stats.dead_letter_models import ConsumerBreaker, DeadLetter  # noqa: E402, F401

# The per-placement statistics (contract v2) live in their own module, likewise.
from stats.placement_models import (  # noqa: E402, F401
    PlacementDailyReach,
    PlacementDailyUser,
    PlacementDayCount,
    PlacementHourCount,
    PlacementMinuteCount,
)

# The delivery-semantics lab's tables (counts of the lab-only modes, the last printed table).
from stats.semantics_lab.models import LabAdCount, SemanticsLabRow  # noqa: E402, F401
