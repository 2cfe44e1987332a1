"""Statistics per placement (contract v2's optional `placement`), beside the per-ad ones.

Separate tables, written only for events that carry a placement, so events without one cost
nothing more and the unfiltered reads touch the same rows as before. The same shapes as the
per-ad tables in stats.models, with `placement` leading each key: impressions per (placement,
ad) per UTC minute, hour and day, the (placement, ad, day, user) rows, also under the pseudo ad
`ALL_ADS` for a placement's site-wide users, and their reach (see `AdDailyReach`).
"""

from django.db import models

PLACEMENT_MAX_LENGTH = 64  # the contract's bound


def _positive(model: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(impressions__gt=0), name=f"{model}_impressions_positive"
    )


class PlacementMinuteCount(models.Model):
    """Impressions of one ad in one placement in one UTC minute of event time."""

    placement = models.CharField(max_length=PLACEMENT_MAX_LENGTH)
    ad_id = models.CharField(max_length=64)
    minute = models.DateTimeField(help_text="Start of the UTC minute.")
    impressions = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["placement", "ad_id", "minute"], name="placementminute_key_uniq"
            ),
            _positive("placementminute"),
        ]
        indexes = [models.Index(fields=["placement", "minute"])]

    def __str__(self) -> str:
        return f"{self.placement} {self.ad_id} {self.minute:%Y-%m-%d %H:%M}: {self.impressions}"


class PlacementHourCount(models.Model):
    """Impressions of one ad in one placement in one UTC hour (the sum of its minutes)."""

    placement = models.CharField(max_length=PLACEMENT_MAX_LENGTH)
    ad_id = models.CharField(max_length=64)
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    impressions = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["placement", "ad_id", "hour"], name="placementhour_key_uniq"
            ),
            _positive("placementhour"),
        ]
        indexes = [models.Index(fields=["placement", "hour"])]

    def __str__(self) -> str:
        return f"{self.placement} {self.ad_id} {self.hour:%Y-%m-%d %H:00}: {self.impressions}"


class PlacementDayCount(models.Model):
    """Impressions of one ad in one placement on one UTC day (the sum of its minutes)."""

    placement = models.CharField(max_length=PLACEMENT_MAX_LENGTH)
    ad_id = models.CharField(max_length=64)
    day = models.DateField()
    impressions = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["placement", "ad_id", "day"], name="placementday_key_uniq"
            ),
            _positive("placementday"),
        ]
        indexes = [models.Index(fields=["placement", "day"])]

    def __str__(self) -> str:
        return f"{self.placement} {self.ad_id} {self.day}: {self.impressions}"


class PlacementDailyUser(models.Model):
    """One user who saw one ad (or any ad: `ALL_ADS`) in one placement on one UTC day."""

    placement = models.CharField(max_length=PLACEMENT_MAX_LENGTH)
    ad_id = models.CharField(max_length=64)
    day = models.DateField()
    user_id = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["placement", "ad_id", "user_id", "day"], name="placementuser_key_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.placement} {self.ad_id} {self.day}: {self.user_id}"


class PlacementDailyReach(models.Model):
    """`AdDailyReach` within one placement: users of an ad in the placement on `day` whose
    previous day with that ad in that placement was `previous_day` (`day` for the first)."""

    placement = models.CharField(max_length=PLACEMENT_MAX_LENGTH)
    ad_id = models.CharField(max_length=64)
    day = models.DateField()
    previous_day = models.DateField()
    users = models.BigIntegerField()  # signed, as AdDailyReach.users

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["placement", "ad_id", "day", "previous_day"],
                name="placementreach_key_uniq",
            ),
            models.CheckConstraint(
                condition=models.Q(previous_day__lte=models.F("day")),
                name="placementreach_previous_not_after_day",
            ),
        ]
        indexes = [models.Index(fields=["placement", "day"])]

    def __str__(self) -> str:
        return (
            f"{self.placement} {self.ad_id} {self.day} (previous {self.previous_day}): {self.users}"
        )


PLACEMENT_STATISTICS = (
    PlacementMinuteCount,
    PlacementHourCount,
    PlacementDayCount,
    PlacementDailyUser,
    PlacementDailyReach,
)
"""Every per-placement table the recording function keeps."""
