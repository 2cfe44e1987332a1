"""check_with_registry against a real Apicurio Registry (scripts/schema-registry-local, in-memory
storage, its Confluent-compatible API): the committed schemas register under the topic's subject
at BACKWARD_TRANSITIVE, and the registry itself refuses deliberately incompatible candidates."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from impressions.schema_registry import COMPATIBILITY, check_with_registry
from tests.conftest import ROOT
from tests.web_server import free_port

SUBJECT = "ad-impressions-value"
SCRIPT = ROOT / "scripts/schema-registry-local"


def committed_schemas() -> list[dict[str, Any]]:
    files = sorted((ROOT / "impressions/schema").glob("ad_impression_event.v*.json"))
    files.sort(key=lambda path: int(path.name.split(".v")[1].split(".")[0]))
    return [json.loads(path.read_text()) for path in files]


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    """The registry's ccompat URL: SCHEMA_REGISTRY_URL if set, else one started for this module."""
    if given := os.environ.get("SCHEMA_REGISTRY_URL"):
        yield given
        return
    env = {
        **os.environ,
        "SCHEMA_REGISTRY_LOCAL_DIR": str(ROOT / ".local/schema-registry-test"),
        "SCHEMA_REGISTRY_PORT": str(free_port()),
    }
    subprocess.run([SCRIPT, "stop"], env=env, check=True, capture_output=True)
    subprocess.run([SCRIPT, "start"], env=env, check=True, timeout=900)
    url = subprocess.run([SCRIPT, "url"], env=env, check=True, capture_output=True, text=True)
    try:
        yield url.stdout.strip()
    finally:
        subprocess.run([SCRIPT, "stop"], env=env, check=True, capture_output=True)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def event_def(schema: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = schema["$defs"]["AdImpressionEvent"]
    return node


def candidate_id(change: str) -> str:
    return f"ad_impression_event.candidate-{change.replace(' ', '-')}.json"


def candidate(change: str) -> dict[str, Any]:
    """The newest committed schema with one change, as a would-be next version."""
    schema = copy.deepcopy(committed_schemas()[-1])
    schema["$id"] = candidate_id(change)  # a URI reference: the registry resolves it
    event = event_def(schema)
    if change == "new optional field":
        event["properties"]["test_only_field"] = {"type": "string"}
    elif change == "new required field":
        event["properties"]["test_only_field"] = {"type": "string"}
        event["required"] = [*event["required"], "test_only_field"]
    elif change == "removed field":
        del event["properties"]["user_id"]
        event["required"] = [name for name in event["required"] if name != "user_id"]
    elif change == "narrowed type":
        event["properties"]["user_id"] = {"type": "integer"}
    elif change == "removed enum value":
        device = event["properties"]["device"]
        device["enum"] = [value for value in device["enum"] if value != "ctv"]
    return schema


def test_the_committed_schemas_register_at_backward_transitive(registry: str) -> None:
    schemas = committed_schemas()
    assert schemas, "no committed schema"
    assert check_with_registry(registry, SUBJECT, schemas) == []
    assert get(f"{registry}/subjects/{SUBJECT}/versions") == list(range(1, len(schemas) + 1))
    assert get(f"{registry}/config/{SUBJECT}")["compatibilityLevel"] == COMPATIBILITY
    # Asking again changes nothing: the same schemas are the same versions.
    assert check_with_registry(registry, SUBJECT, schemas) == []
    assert len(get(f"{registry}/subjects/{SUBJECT}/versions")) == len(schemas)


@pytest.mark.parametrize(
    "change", ["new required field", "removed field", "narrowed type", "removed enum value"]
)
def test_an_incompatible_candidate_is_reported_and_not_registered(
    registry: str, change: str
) -> None:
    subject = f"test-{uuid.uuid4().hex[:12]}"
    problems = check_with_registry(registry, subject, [*committed_schemas(), candidate(change)])
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{candidate_id(change)}: not {COMPATIBILITY} compatible"), (
        problems
    )
    assert len(get(f"{registry}/subjects/{subject}/versions")) == len(committed_schemas())


def test_a_new_optional_field_is_compatible(registry: str) -> None:
    subject = f"test-{uuid.uuid4().hex[:12]}"
    schemas = [*committed_schemas(), candidate("new optional field")]
    assert check_with_registry(registry, subject, schemas) == []
    assert len(get(f"{registry}/subjects/{subject}/versions")) == len(schemas)


def test_an_unreachable_registry_is_one_problem() -> None:
    url = f"http://127.0.0.1:{free_port()}/apis/ccompat/v7"
    problems = check_with_registry(url, SUBJECT, committed_schemas())
    assert len(problems) == 1 and problems[0].startswith(f"schema registry at {url}:"), problems


def test_checkschemas_asks_the_registry_too(registry: str) -> None:
    subject = f"test-{uuid.uuid4().hex[:12]}"
    out = io.StringIO()
    call_command("checkschemas", registry=registry, subject=subject, stdout=out)
    printed = out.getvalue()
    assert f"schema registry {registry}, subject '{subject}', {COMPATIBILITY}: ok" in printed
    assert "all 3 schema checks passed" in printed
    assert len(get(f"{registry}/subjects/{subject}/versions")) == len(committed_schemas())


def test_checkschemas_fails_when_the_registry_refuses(registry: str, tmp_path: Path) -> None:
    subject = f"test-{uuid.uuid4().hex[:12]}"
    schemas = [*committed_schemas(), candidate("removed field")]
    for version, schema in enumerate(schemas, start=1):
        (tmp_path / f"ad_impression_event.v{version}.json").write_text(json.dumps(schema))
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "checkschemas", registry=registry, subject=subject, schema_dir=tmp_path, stdout=out
        )
    assert f"schema registry {registry}, subject '{subject}', {COMPATIBILITY}: FAILED" in (
        out.getvalue()
    )
