"""Production settings fail closed: DEBUG off without SECRET_KEY refuses to start, and the
production set of variables (README "Production settings") passes `check --deploy` cleanly.
Also adsite/middleware.py: an unparsable Content-Type header is a 400, not a 500.

The settings cases run `manage.py` (or import the WSGI module, as gunicorn does) in a fresh
process, with the variables under test taken out of the inherited environment and set as the case
says.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from impressions.models import Impression

ROOT = Path(__file__).resolve().parent.parent

# Every variable that decides what these cases check; the rest of the environment is inherited.
CONTROLLED = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
)

# The production set, as README "Production settings" lists it.
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "stats.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
}

REFUSAL = "SECRET_KEY is not set and DEBUG is off"
HOW_TO_GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run(["manage.py", *args], **env)


def test_the_production_set_passes_check_deploy_cleanly() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    print(result.stdout, result.stderr)  # shown with -s: the clean report
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_without_the_https_variables_check_deploy_names_each_missing_one() -> None:
    only_key = {"DEBUG": "0", "SECRET_KEY": PRODUCTION["SECRET_KEY"]}
    result = manage("check", "--deploy", "--fail-level", "WARNING", **only_key)
    assert result.returncode != 0
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in result.stderr, result.stderr


@pytest.mark.parametrize("key", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_debug_off_without_a_secret_key_refuses_to_start(key: str | None) -> None:
    env = {"DEBUG": "0"} if key is None else {"DEBUG": "0", "SECRET_KEY": key}
    for args in (["manage.py", "check"], ["-c", "import adsite.wsgi"]):  # gunicorn imports it
        result = run(args, **env)
        assert result.returncode != 0, args
        assert "ImproperlyConfigured" in result.stderr, result.stderr
        assert REFUSAL in result.stderr, result.stderr
        assert HOW_TO_GENERATE in result.stderr, result.stderr


def test_debug_unset_is_off_and_refuses_too() -> None:
    result = manage("check")
    assert result.returncode != 0
    assert REFUSAL in result.stderr


def test_debug_on_starts_without_a_secret_key() -> None:
    """`make run` (DEBUG=1) needs no key: it falls back to a development-only one."""
    result = manage("check", DEBUG="1")
    assert result.returncode == 0, result.stderr


def test_the_proxy_header_names_the_header_that_says_https() -> None:
    show = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    result = manage("shell", "--no-imports", "-c", show, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"

    unset = {**PRODUCTION, "SECURE_PROXY_SSL_HEADER": ""}
    assert manage("shell", "--no-imports", "-c", show, **unset).stdout.strip() == "None"

    bad = manage("check", **{**PRODUCTION, "SECURE_PROXY_SSL_HEADER": "X-Proto: on"})
    assert bad.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must be a header name" in bad.stderr


BOGUS_CONTENT_TYPE = "application/json; charset*=bogus''utf-8"  # RFC 2231, unknown encoding


@pytest.mark.django_db
def test_an_unparsable_content_type_is_a_400_on_the_api() -> None:
    client = Client(raise_request_exception=True)  # a 500 would raise here
    response = client.post(
        "/api/impressions/sync/",
        b'{"ad_id": "ad-1", "user_id": "u-1"}',
        content_type=BOGUS_CONTENT_TYPE,
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert "Content-Type header" in detail and "cannot be parsed" in detail, detail
    assert "Invalid encoding 'bogus'" in detail
    assert Impression.objects.count() == 0


@pytest.mark.django_db
def test_an_unparsable_content_type_is_a_400_on_a_page() -> None:
    client = Client(raise_request_exception=True)
    response = client.get("/", CONTENT_TYPE=BOGUS_CONTENT_TYPE)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert "cannot be parsed" in response.content.decode()
    # The next request, with a usual header, is served as before.
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_a_well_formed_rfc_2231_charset_still_passes() -> None:
    response = Client().post(
        "/api/impressions/sync/",
        b'{"ad_id": "ad-1", "user_id": "u-1"}',
        content_type="application/json; charset*=utf-8''utf-8",
    )
    assert response.status_code == 201, response.content
    assert Impression.objects.count() == 1


@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        ({"SECRET_KEY": "x"}, "SECRET_KEY is too short or too simple"),
        ({"SECRET_KEY": "a" * 60}, "SECRET_KEY is too short or too simple"),
        ({"INGEST_THROTTLE_RATE": "100"}, "INGEST_THROTTLE_RATE must be N/period"),
        ({"INGEST_THROTTLE_RATE": "0/second"}, "INGEST_THROTTLE_RATE must be N/period"),
    ],
)
def test_a_weak_key_or_an_unreadable_rate_refuses_to_start(
    env: dict[str, str], refusal: str
) -> None:
    result = manage("check", **{"DEBUG": "0", "SECRET_KEY": PRODUCTION["SECRET_KEY"], **env})
    assert result.returncode != 0
    assert refusal in result.stderr, result.stderr
