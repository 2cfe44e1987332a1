"""Adapter to a schema registry's Confluent-compatible API (Apicurio Registry's /apis/ccompat/v7,
or Confluent Schema Registry): register the committed event schemas under the topic's subject
and let the registry judge BACKWARD_TRANSITIVE compatibility too.

Stdlib only (urllib). `check_with_registry` is what `manage.py checkschemas --registry URL`
calls; scripts/schema-registry-local runs a registry here.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

COMPATIBILITY = "BACKWARD_TRANSITIVE"
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# Apicurio 2.4's JSON Schema checker (everit) reads drafts 4 to 7 and refuses 2020-12 ("could not
# determine version"). The committed schemas use only keywords that mean the same in draft 7
# (their `$ref`s are plain JSON pointers into `$defs`), so the registry gets them as draft 7.
_REGISTRY_DRAFT = "http://json-schema.org/draft-07/schema#"
TIMEOUT_SECONDS = 10.0


class RegistryError(RuntimeError):
    """The registry could not be reached or answered something unexpected."""


def _call(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url.rstrip("/") + path, data=data, method=method, headers={"Content-Type": _CONTENT_TYPE}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise RegistryError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RegistryError(f"{method} {path}: {exc}") from None


def _registry_body(schema: dict[str, Any]) -> dict[str, Any]:
    as_draft_7 = {**schema, "$schema": _REGISTRY_DRAFT}
    return {"schemaType": "JSON", "schema": json.dumps(as_draft_7, sort_keys=True)}


def _name(schema: dict[str, Any], index: int) -> str:
    return str(schema.get("$id") or schema.get("title") or f"schema #{index + 1}")


def check_with_registry(url: str, subject: str, schemas: list[dict[str, Any]]) -> list[str]:
    """Register `schemas` (oldest first) under `subject`, with the subject's compatibility set to
    BACKWARD_TRANSITIVE, asking the registry's /compatibility for each one against every version
    registered before it. Returns the problems found (empty: the registry agrees); a schema the
    registry finds incompatible is reported and not registered. An unreachable registry or an
    unexpected answer is one problem naming it; nothing is raised.
    """
    quoted = urllib.parse.quote(subject, safe="")
    problems: list[str] = []
    try:
        for index, schema in enumerate(schemas):
            body = _registry_body(schema)
            if index > 0:
                verdict = _call(
                    url, "POST", f"/compatibility/subjects/{quoted}/versions?verbose=true", body
                )
                if not verdict.get("is_compatible"):
                    reason = verdict.get("reason") or verdict.get("messages") or "no reason given"
                    problems.append(
                        f"{_name(schema, index)}: not {COMPATIBILITY} compatible with the "
                        f"versions registered under {subject!r} (registry: {reason})"
                    )
                    continue
            _call(url, "POST", f"/subjects/{quoted}/versions", body)
            if index == 0:  # the subject exists now: set its level before any other version
                _call(url, "PUT", f"/config/{quoted}", {"compatibility": COMPATIBILITY})
                level = _call(url, "GET", f"/config/{quoted}") or {}
                if COMPATIBILITY not in (
                    level.get("compatibilityLevel"),
                    level.get("compatibility"),
                ):
                    problems.append(f"{subject!r}: the registry did not keep {COMPATIBILITY}")
    except RegistryError as exc:
        problems.append(f"schema registry at {url}: {exc}")
    return problems
