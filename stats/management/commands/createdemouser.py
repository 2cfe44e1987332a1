"""`manage.py createdemouser`: a staff user and an API token for trying the product locally."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create (or reset) a staff superuser for local use and print its login and API token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password")

    def handle(self, *args: Any, **options: Any) -> None:
        user, _ = get_user_model().objects.get_or_create(username=options["username"])
        user.is_staff = user.is_superuser = True
        user.set_password(options["password"])
        user.save(update_fields=["is_staff", "is_superuser", "password"])
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(f"admin login: {user.username} / {options['password']}")
        self.stdout.write(f"API token:   {token.key}")
