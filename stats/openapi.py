"""OpenAPI pieces of the statistics API (drf-spectacular): parameters, answers, error bodies."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from drf_spectacular.utils import inline_serializer as _inline
from rest_framework import serializers

from impressions.contract import AD_ID_PATTERN, PLACEMENT_RULE
from impressions.openapi import ErrorDetail
from stats.bucketing import INTERVALS
from stats.lag_verdict import SEVERITY
from stats.moment_syntax import MOMENT_PATTERN
from stats.selectors import ORDERINGS

STATS_TAG = "stats"

_MOMENT = (
    "an ISO 8601 date `YYYY-MM-DD` (midnight UTC) or datetime `YYYY-MM-DDTHH:MM[:SS[.ffffff]]` "
    "with an optional zone `Z` or `+HH:MM` (without a zone: UTC), from 1970-01-01 to "
    "9000-01-01 in UTC; empty is the same as absent"
)
# The server accepts exactly this language (stats.moment_syntax), so the pattern is the rule.
MOMENT = {"type": "string", "pattern": MOMENT_PATTERN}
FROM = OpenApiParameter(
    "from",
    MOMENT,
    description=f"Start of the range, inclusive: {_MOMENT}. Must be before `to`.",
    examples=[
        OpenApiExample("date", value="2026-01-15"),
        OpenApiExample("datetime", value="2026-01-15T10:30:00Z"),
    ],
)
TO = OpenApiParameter(
    "to",
    MOMENT,
    description=f"End of the range, exclusive: {_MOMENT}.",
    examples=[
        OpenApiExample("date", value="2026-01-16"),
        OpenApiExample("datetime", value="2026-01-15T11:30:00Z"),
    ],
)
RANGE = [FROM, TO]

AD_ID = OpenApiParameter(
    "ad_id",
    {"type": "string", "minLength": 1, "maxLength": 64, "pattern": AD_ID_PATTERN},
    OpenApiParameter.PATH,
    description="The ad, as in the events' `ad_id` (an id that breaks the contract is a 400).",
)

PLACEMENT = OpenApiParameter(
    "placement",
    {"type": "string", "minLength": 1, "maxLength": 64, "pattern": AD_ID_PATTERN},
    description=(
        "Count only the impressions shown in this placement (the events' optional `placement`, "
        "contract v2), users included; without it, every impression. A value that breaks the "
        f"contract is a 400 ({PLACEMENT_RULE})."
    ),
    examples=[OpenApiExample("placement", value="home-top")],
)

LIST_PARAMETERS = [
    *RANGE,
    PLACEMENT,
    OpenApiParameter(
        "ordering",
        OpenApiTypes.STR,
        enum=list(ORDERINGS),
        default="-impressions",
        description=(
            "Sort order. Counts always sort largest first, whichever sign is given; ties sort "
            "by `ad_id`."
        ),
    ),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 999_999_999_999, "default": 50},
        description="Page size, default 50; values above 1000 are taken as 1000.",
    ),
    OpenApiParameter(
        "offset",
        {"type": "integer", "minimum": 0, "maximum": 999_999_999_999, "default": 0},
        description="Rows to skip; past the last row the page is empty.",
    ),
]

SERIES_PARAMETERS = [
    AD_ID,
    OpenApiParameter(
        "interval",
        OpenApiTypes.STR,
        enum=list(INTERVALS),
        default="hour",
        description="Bucket size.",
    ),
    PLACEMENT,
    OpenApiParameter(
        "from",
        MOMENT,
        description=(
            f"Start, inclusive ({_MOMENT}), floored to the interval; the default is 60 minutes, "
            "48 hours or 30 days before `to`."
        ),
    ),
    OpenApiParameter(
        "to",
        MOMENT,
        description=(
            f"End, exclusive ({_MOMENT}); the default is the end of the current bucket. At most "
            "10,000 buckets per request."
        ),
    ),
]

BAD_REQUEST = OpenApiResponse(
    {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "The rejected parameter, mapped to what is wrong with it.",
        "example": {"from": "expected an ISO 8601 date or datetime, got 'yesterday'"},
    },
    description="A parameter cannot be used: the body maps its name to the problem.",
)
UNAUTHORIZED = OpenApiResponse(
    ErrorDetail, description="No (valid) token and no session: send `Authorization: Token <key>`."
)
READ_ERRORS = {400: BAD_REQUEST, 401: UNAUTHORIZED}

COMPLETENESS_HELP = (
    "The statistics are final up to this instant (null until every partition of the topic has "
    "been read): the earliest instant every partition has been read to (record publish time, "
    "or when the consumer saw it caught up), minus STATS_ALLOWED_LATENESS_SECONDS. It never "
    "moves backwards. Events whose time is before it can still arrive: they are counted, and "
    "counted as late (`late_events` of /api/stats/pipeline/)."
)


def complete_through() -> serializers.DateTimeField:
    return serializers.DateTimeField(allow_null=True, help_text=COMPLETENESS_HELP)


def paginated(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    """The LimitOffsetPagination page of `item` rows."""
    return _inline(
        name,
        {
            "count": serializers.IntegerField(help_text="rows in the whole range"),
            "next": serializers.URLField(allow_null=True, help_text="the next page, if any"),
            "previous": serializers.URLField(allow_null=True, help_text="the previous page"),
            "results": item(many=True),
            "complete_through": complete_through(),
        },
    )


def series(bucket: type[serializers.Serializer]) -> serializers.Serializer:
    return _inline(
        "AdSeries",
        {
            "ad_id": serializers.CharField(),
            "interval": serializers.ChoiceField(choices=list(INTERVALS)),
            "from": serializers.DateTimeField(help_text="the first bucket's start (floored)"),
            "to": serializers.DateTimeField(help_text="the range's end, exclusive"),
            "complete_through": complete_through(),
            "buckets": bucket(
                many=True,
                help_text=(
                    "every bucket in [from, to), zero-filled; a `to` inside a bucket leaves the "
                    "last one `partial` (it counts [start, end) only)"
                ),
            ),
        },
    )


def verdict_field(**kwargs: object) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=list(SEVERITY), **kwargs)  # type: ignore[arg-type]


PIPELINE = _inline(
    "PipelineState",
    {
        "consumer_group": serializers.CharField(),
        "topic": serializers.CharField(),
        "broker_available": serializers.BooleanField(),
        "total_lag": serializers.IntegerField(
            allow_null=True, help_text="null when the broker is unreachable"
        ),
        "partitions": _inline(
            "PartitionProgress",
            {
                "partition": serializers.IntegerField(),
                "end_offset": serializers.IntegerField(
                    allow_null=True, help_text="the next record's offset; null without a broker"
                ),
                "processed_offset": serializers.IntegerField(
                    help_text="offset the consumer group has recorded up to (the ledger)"
                ),
                "lag": serializers.IntegerField(allow_null=True),
                "read_through": serializers.DateTimeField(
                    allow_null=True,
                    help_text=(
                        "publish time of the last record recorded, or when the consumer last "
                        "saw the partition caught up; null if never read"
                    ),
                ),
                "verdict": verdict_field(
                    allow_null=True,
                    help_text="Burrow's verdict over the recent samples; null without a broker",
                ),
                "samples": serializers.IntegerField(
                    help_text="lag samples in the verdict's window (one every few seconds)"
                ),
                "expired_unrecorded": serializers.IntegerField(
                    help_text="records that left the topic (retention) before the consumer"
                    " recorded them: a loss, also logged as an error by the consumer"
                ),
                "leader": serializers.IntegerField(
                    allow_null=True,
                    help_text="node id of the partition's leader; null without a leader or broker",
                ),
                "replicas": serializers.ListField(
                    child=serializers.IntegerField(), help_text="node ids of its replicas"
                ),
                "in_sync_replicas": serializers.ListField(
                    child=serializers.IntegerField(),
                    help_text="node ids of the replicas in sync (the ISR) the cluster enforces",
                ),
                "under_replicated": serializers.BooleanField(
                    allow_null=True,
                    help_text="fewer replicas in sync than assigned; null without a broker",
                ),
            },
            many=True,
        ),
        "verdict": verdict_field(
            allow_null=True, help_text="the group's lag verdict: its worst partition's"
        ),
        "under_replicated_partitions": serializers.IntegerField(
            allow_null=True,
            help_text="partitions with fewer replicas in sync than assigned; null when unknown",
        ),
        "complete_through": complete_through(),
        "allowed_lateness_seconds": serializers.FloatField(
            help_text="STATS_ALLOWED_LATENESS_SECONDS, subtracted from the read-through times"
        ),
        "late_events": serializers.IntegerField(
            help_text="events recorded with an event time before complete_through at the time"
        ),
        "members": _inline(
            "ConsumerGroupMember",
            {
                "client_id": serializers.CharField(),
                "host": serializers.CharField(),
                "partitions": serializers.ListField(
                    child=serializers.IntegerField(), help_text="partitions of the topic it owns"
                ),
            },
            many=True,
            help_text="the group's current members; empty without a broker",
        ),
        "dead_letter_records": serializers.IntegerField(
            allow_null=True,
            help_text="records retained on the dead-letter topic; null without a broker",
        ),
        "last_recorded_at": serializers.DateTimeField(
            allow_null=True, help_text="when the consumer last recorded a batch (the ledger)"
        ),
        "error": serializers.CharField(
            required=False, help_text="why the broker could not be read, if it could not"
        ),
    },
)
