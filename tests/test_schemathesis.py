"""Schemathesis against the site's own OpenAPI schema with every check on (`-c all`): each
operation, generated requests (valid and invalid), a bounded number of examples each. No answer
may be a server error or undocumented, a schema-valid request may not be refused and a
schema-violating one may not be accepted: the document is as exact as the server.

Runs in-process against the WSGI app on the test database, with the repo's schemathesis.toml
(the same settings `st run` uses against a running server) and its hooks
(tests/schemathesis_hooks.py: the clock and cross-field rules no schema can state). The broker
is an address where nothing listens, so the to-be ingest path answers its documented 503
(+ Retry-After) quickly; for that one operation 503 is expected, any other 5xx still fails.
"""

from __future__ import annotations

import tomllib
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
from tests import schemathesis_hooks  # noqa: F401  (registers the hooks)
from tests.conftest import ROOT

MAX_EXAMPLES = 25  # per operation, in the fuzzing phase

# The CLI's settings (schemathesis.toml), every check on, a bounded run. The hooks are
# registered by importing their module (the file path in the toml is for the CLI).
CONFIG = {
    **tomllib.loads((ROOT / "schemathesis.toml").read_text()),
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "checks": {"enabled": True},
}
del CONFIG["hooks"]


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
def test_the_document_and_the_server_agree(case: schemathesis.Case, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Token {token}"})
