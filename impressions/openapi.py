"""OpenAPI pieces of the ingest API (drf-spectacular): request body, answers and error bodies.

The event schemas are generated from the contract's msgspec structs (`ImpressionInput` for what a
client sends, `AdImpressionEvent` for `retry_body`), so the docs cannot drift from the validator.
"""

from __future__ import annotations

from typing import Any

import msgspec
from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    inline_serializer,
)
from rest_framework import serializers

from impressions.contract import AdImpressionEvent, ImpressionInput
from impressions.openapi_event_time import with_event_time_range

INGEST_TAG = "ingest"

_NULL = {"type": "null"}


def openapi_30(node: Any) -> Any:
    """A JSON Schema of msgspec's as OpenAPI 3.0 wants it: `X | None` as `nullable`, a typed
    `enum`, `$ref`s into components/schemas."""
    if isinstance(node, list):
        return [openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {
        # A property map's keys are field names (a field may be called "title"), not keywords.
        key: {name: openapi_30(sub) for name, sub in value.items()}
        if key == "properties"
        else openapi_30(value)
        for key, value in node.items()
        if key != "title"
    }
    if _NULL in node.get("anyOf", []):
        rest = [choice for choice in node.pop("anyOf") if choice != _NULL]
        node = {**rest[0], **node} if len(rest) == 1 else {"anyOf": rest, **node}
        node["nullable"] = True
    if "enum" in node and "type" not in node and all(type(v) is int for v in node["enum"]):
        node["type"] = "integer"
    if "enum" in node and "type" not in node and all(type(v) is str for v in node["enum"]):
        node["type"] = "string"  # contract v2's `device`
    if isinstance(node.get("$ref"), str):
        node["$ref"] = node["$ref"].replace("#/$defs/", "#/components/schemas/")
    return node


def struct_ref(auto_schema: AutoSchema, struct: type[msgspec.Struct]) -> dict[str, str]:
    """Register a contract struct (and the structs it uses) as components; its `$ref`."""
    generated = msgspec.json.schema(struct)
    for name, schema in generated.get("$defs", {}).items():
        component = ResolvedComponent(
            name=name,
            type=ResolvedComponent.SCHEMA,
            object=name,
            schema=with_event_time_range(openapi_30(schema)),
        )
        auto_schema.registry.register_on_missing(component)
    ref: dict[str, str] = openapi_30({"$ref": generated["$ref"]})
    return ref


class IngestAutoSchema(AutoSchema):
    """The ingest operations' schema: their body is required (an empty body is a 400), which
    drf-spectacular cannot infer from a `SchemaBody`."""

    def _get_request_body(self, direction: str = "request") -> dict[str, Any] | None:
        body: dict[str, Any] | None = super()._get_request_body(direction)
        if body:
            body["required"] = True
        return body


class SchemaBody:
    """A body whose schema is written by `schema()` instead of derived from a serializer;
    use the class itself in `extend_schema(request=...)` or `OpenApiResponse(response=...)`."""

    @classmethod
    def schema(cls, auto_schema: AutoSchema) -> dict[str, Any]:
        raise NotImplementedError


class SchemaBodyExtension(OpenApiSerializerExtension):
    target_class = SchemaBody
    match_subclasses = True

    def get_name(self, auto_schema: AutoSchema, direction: str) -> str:
        name: str = self.target.__name__
        return name

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.target.schema(auto_schema)
        return schema


class ImpressionBatch(SchemaBody):
    """One event object, or a non-empty array of them."""

    @classmethod
    def schema(cls, auto_schema: AutoSchema) -> dict[str, Any]:
        event = struct_ref(auto_schema, ImpressionInput)
        limit = settings.INGEST_MAX_EVENTS
        return {
            "description": (
                f"One event, or an array of 1 to {limit} events (INGEST_MAX_EVENTS). Unknown "
                "fields are rejected. `event_id` and `timestamp` are optional: the server fills "
                "them in. Send your own `event_id` to make a retry count once."
            ),
            "oneOf": [event, {"type": "array", "items": event, "minItems": 1, "maxItems": limit}],
        }


class PublishUnavailableBody(SchemaBody):
    """503 of the to-be path: nothing is acknowledged; resend `retry_body` later."""

    @classmethod
    def schema(cls, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "accepted": {"type": "integer", "description": "always 0"},
                "event_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                "error": {"type": "string", "description": "why the broker did not acknowledge"},
                "hint": {"type": "string"},
                "retry_body": {
                    "type": "array",
                    "items": struct_ref(auto_schema, AdImpressionEvent),
                    "description": (
                        "The events as the server completed them (same ids and timestamps): "
                        "resend this array as the request body to be counted exactly once."
                    ),
                },
            },
            "required": ["accepted", "event_ids", "error", "hint", "retry_body"],
        }


ErrorDetail = inline_serializer(
    "ErrorDetail", {"detail": serializers.CharField(help_text="what is wrong")}
)

InvalidEventError = inline_serializer(
    "InvalidEventError",
    {
        "error": serializers.CharField(help_text="the rule the event breaks"),
        "field": serializers.CharField(
            allow_null=True, help_text="the offending (or unknown) field; null for the body"
        ),
        "index": serializers.IntegerField(
            required=False, help_text="position in the array, for array bodies"
        ),
    },
)


def _accepted_fields() -> dict[str, serializers.Field]:
    return {
        "accepted": serializers.IntegerField(help_text="number of events in the request"),
        "event_ids": serializers.ListField(
            child=serializers.UUIDField(), help_text="the events' ids, in request order"
        ),
    }


PUBLISHED = OpenApiResponse(
    inline_serializer("ImpressionsPublished", _accepted_fields()),
    description="The broker acknowledged every event.",
)
RECORDED = OpenApiResponse(
    inline_serializer(
        "ImpressionsRecorded",
        {
            **_accepted_fields(),
            "recorded": serializers.IntegerField(
                help_text="events new to the database (0 for a resent event_id)"
            ),
        },
    ),
    description="Every event is recorded and committed.",
)

_RETRY_AFTER = "Retry-After"
RETRY_AFTER_HEADERS = [
    OpenApiParameter(
        _RETRY_AFTER,
        int,
        OpenApiParameter.HEADER,
        description="seconds to wait before sending again",
        response=[429, 503],
    )
]

INGEST_ERRORS: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(
        PolymorphicProxySerializer(
            component_name="IngestBadRequest",
            serializers=[InvalidEventError, ErrorDetail],
            resource_type_field_name=None,  # told apart by their fields, not a discriminator
        ),
        description=(
            "The body breaks the contract (`error`, `field`, and for arrays `index`), or is not "
            "valid JSON, is empty, nested too deep or names a key twice (`detail`)."
        ),
    ),
    411: OpenApiResponse(
        ErrorDetail,
        description="A chunked body on a server that cannot read one (send a Content-Length).",
    ),
    413: OpenApiResponse(
        ErrorDetail,
        description="More than INGEST_MAX_EVENTS events, or a body over INGEST_MAX_BODY_BYTES.",
    ),
    415: OpenApiResponse(
        ErrorDetail, description="Content-Type is not application/json (charset utf-8, if any)."
    ),
    429: OpenApiResponse(
        ErrorDetail, description="Over INGEST_THROTTLE_RATE requests for this client."
    ),
}
PUBLISH_UNAVAILABLE = OpenApiResponse(
    PublishUnavailableBody,
    description=(
        "The broker did not acknowledge every event within KAFKA_PUBLISH_TIMEOUT_SECONDS. Some "
        "events may still reach the topic: resend `retry_body` after Retry-After seconds, and "
        "each event is counted once."
    ),
)
