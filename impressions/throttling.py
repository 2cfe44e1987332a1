"""Per-client rate limit on the public ingest endpoints (INGEST_THROTTLE_RATE, empty = off)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class IngestRateThrottle(SimpleRateThrottle):
    scope = "ingest"

    def get_rate(self) -> str | None:
        return settings.INGEST_THROTTLE_RATE

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
