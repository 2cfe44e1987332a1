"""Schemathesis against the site's own OpenAPI schema: every operation, generated requests
(valid and invalid), a bounded number of examples each, and no answer may be a server error.

Runs in-process against the WSGI app on the test database. The broker is an address where nothing
listens, so the to-be ingest path answers its documented 503 (+ Retry-After) quickly; for that
one operation 503 is expected, any other 5xx still fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token

from adsite.wsgi import application
from impressions.publisher import close_publisher

MAX_EXAMPLES = 25  # per operation, in the fuzzing phase

CONFIG = {
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    # No 5xx, and every answer is one the schema documents: its status, media type, body, headers.
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "response_headers_conformance": {"enabled": True},
    },
    "operations": [
        {
            # 503 + Retry-After is this operation's documented answer when the broker is down.
            "include-operation-id": "impressions_publish",
            "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", 503]}},
        }
    ],
}


@pytest.fixture
def wsgi_in_test_transaction(db: Any) -> Iterator[None]:
    """Requests through the bare WSGI app end with close_old_connections, which would close the
    test's connection (it is inside the test transaction); Django's test client skips it too."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def broker_down(wsgi_in_test_transaction: None, settings: Any) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]  # nothing listens there
    settings.KAFKA_PUBLISH_TIMEOUT_SECONDS = 0.5
    settings.KAFKA_ADMIN_TIMEOUT_SECONDS = 0.5
    settings.INGEST_THROTTLE_RATE = None  # exercise the endpoints, not the throttle
    close_publisher()


@pytest.fixture
def token(db: Any) -> str:
    user = get_user_model().objects.create_user("schemathesis", password="unused-password")
    key: str = Token.objects.create(user=user).key
    return key


# Loaded at collection from the app itself (no database needed for the schema). Not through
# schemathesis.pytest.from_fixture: 4.32.5's lazy loader reads `node._nodeid`, which pytest 9.2
# no longer has.
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json", application, config=schemathesis.Config.from_dict(CONFIG)
)


@schema.parametrize()
# The token and the test transaction are meant to be shared by all of an operation's examples.
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_server_errors(case: schemathesis.Case, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Token {token}"})
