"""Password logins are throttled (django-axes): LOGIN_FAILURE_LIMIT failures for one username from
one client address within LOGIN_LOCKOUT_MINUTES lock that pair out (429), on the admin's login
page and the browsable API's alike, and only that pair.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
API_LOGIN = "/api/auth/login/"
CLIENT = "203.0.113.7"
PASSWORD = "right-password"


@pytest.fixture
def staff(db: Any, settings: Any) -> Any:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests
    model = get_user_model()
    model.objects.create_user("other", password=PASSWORD, is_staff=True)
    return model.objects.create_user("staff", password=PASSWORD, is_staff=True)


def attempt(client: Client, path: str, password: str, username: str = "staff", **extra: Any) -> Any:
    extra.setdefault("REMOTE_ADDR", CLIENT)
    data = {"username": username, "password": password, "next": "/admin/"}
    return client.post(path, data, **extra)


def logged_in(response: Any) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.wsgi_request.session


def fail_until_locked(client: Client, path: str, **extra: Any) -> list[int]:
    return [
        attempt(client, path, f"wrong-{i}", **extra).status_code
        for i in range(django_settings.AXES_FAILURE_LIMIT)
    ]


@pytest.mark.parametrize("path", [ADMIN_LOGIN, API_LOGIN])
def test_the_limit_locks_the_pair_out_even_with_the_right_password(
    client: Client, staff: Any, path: str
) -> None:
    limit = django_settings.AXES_FAILURE_LIMIT
    assert limit == 5  # the default of LOGIN_FAILURE_LIMIT
    codes = fail_until_locked(client, path)
    assert codes == [200] * (limit - 1) + [429]  # the form with its error, then the lockout
    locked = attempt(client, path, PASSWORD)
    assert locked.status_code == 429
    assert "too many login attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_below_the_limit_the_right_password_still_works(client: Client, staff: Any) -> None:
    for i in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, ADMIN_LOGIN, f"wrong-{i}").status_code == 200
    assert logged_in(attempt(client, ADMIN_LOGIN, PASSWORD))


def test_a_success_clears_the_count(client: Client, staff: Any) -> None:
    for i in range(django_settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, ADMIN_LOGIN, f"wrong-{i}")
    assert logged_in(attempt(client, ADMIN_LOGIN, PASSWORD))
    client.logout()
    for i in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, ADMIN_LOGIN, f"again-{i}").status_code == 200
    assert logged_in(attempt(client, ADMIN_LOGIN, PASSWORD))


def test_both_login_pages_count_against_one_limit(client: Client, staff: Any) -> None:
    limit = django_settings.AXES_FAILURE_LIMIT
    for i in range(limit - 1):
        attempt(client, ADMIN_LOGIN, f"wrong-{i}")
    assert attempt(client, API_LOGIN, "wrong-last").status_code == 429
    assert attempt(client, ADMIN_LOGIN, PASSWORD).status_code == 429


def test_only_the_locked_pair_is_locked(client: Client, staff: Any) -> None:
    fail_until_locked(client, ADMIN_LOGIN)
    # The same username from another address, and another username from the same address.
    assert logged_in(attempt(Client(), ADMIN_LOGIN, PASSWORD, REMOTE_ADDR="198.51.100.9"))
    assert logged_in(attempt(Client(), ADMIN_LOGIN, PASSWORD, username="other"))


def test_the_lockout_ends_after_login_lockout_minutes(client: Client, staff: Any) -> None:
    fail_until_locked(client, ADMIN_LOGIN)
    assert attempt(client, ADMIN_LOGIN, PASSWORD).status_code == 429
    # As if LOGIN_LOCKOUT_MINUTES (15) had passed since the last attempt.
    assert django_settings.AXES_COOLOFF_TIME == timedelta(minutes=15)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    assert logged_in(attempt(client, ADMIN_LOGIN, PASSWORD))


def test_a_made_up_forwarded_for_header_does_not_dodge_it(client: Client, staff: Any) -> None:
    """With TRUSTED_PROXIES=0 the address is the connection's, as for the ingest throttle."""
    limit = django_settings.AXES_FAILURE_LIMIT
    codes = [
        attempt(client, ADMIN_LOGIN, f"wrong-{i}", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code
        for i in range(limit)
    ]
    assert codes[-1] == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {CLIENT}


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(
    client: Client, staff: Any, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}  # TRUSTED_PROXIES=1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    codes = fail_until_locked(client, ADMIN_LOGIN, HTTP_X_FORWARDED_FOR=CLIENT, **proxy)
    assert codes[-1] == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {CLIENT}
    # Another client behind the same proxy is another pair.
    other = attempt(Client(), ADMIN_LOGIN, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.9", **proxy)
    assert logged_in(other)


def test_a_login_without_a_request_is_not_throttled(client: Client, staff: Any) -> None:
    """Code that authenticates without a request (the test client's login(), a shell) has no
    client address; it passes on to the password check."""
    fail_until_locked(client, ADMIN_LOGIN)
    assert client.login(username="staff", password=PASSWORD)
    assert not client.login(username="staff", password="wrong")


@pytest.mark.django_db
def test_an_overlong_username_is_a_failed_login_not_a_server_error() -> None:
    client = Client(enforce_csrf_checks=False)
    response = client.post("/admin/login/", {"username": "u" * 300, "password": "nope"})
    assert response.status_code == 200
    assert b"errornote" in response.content
