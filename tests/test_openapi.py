"""The OpenAPI schema and Swagger UI: public, complete, valid, and served by the site itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

# Every operation with the status codes it documents.
DOCUMENTED = {
    ("/api/impressions/", "post"): {"202", "400", "411", "413", "415", "429", "503"},
    ("/api/impressions/sync/", "post"): {"201", "400", "411", "413", "415", "429"},
    ("/api/stats/ads/", "get"): {"200", "400", "401"},
    ("/api/stats/ads/{ad_id}/", "get"): {"200", "400", "401"},
    ("/api/stats/ads/{ad_id}/series/", "get"): {"200", "400", "401"},
    ("/api/stats/pipeline/", "get"): {"200", "401"},
}
EVENT_FIELDS = {"schema_version", "event_id", "ad_id", "user_id", "timestamp"}
V2_FIELDS = {"placement", "campaign_id", "device"}  # contract v2: optional
STATS_PARAMETERS = {
    "/api/stats/ads/": {"from", "to", "ordering", "limit", "offset", "placement"},
    "/api/stats/ads/{ad_id}/": {"ad_id", "from", "to", "placement"},
    "/api/stats/ads/{ad_id}/series/": {"ad_id", "interval", "from", "to", "placement"},
    "/api/stats/pipeline/": set(),
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = Client().get("/api/schema/", {"format": "json"})  # anonymous
    assert response.status_code == 200, response.content[:500]
    body: dict[str, Any] = response.json()
    return body


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_urls_have_their_names() -> None:
    assert reverse("api-schema") == "/api/schema/"
    assert reverse("api-docs") == "/api/docs/"


def test_the_schema_is_openapi_3_with_every_operation_and_status(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    operations = {
        (path, method): set(operation["responses"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert operations == DOCUMENTED


@pytest.mark.parametrize("path", sorted(STATS_PARAMETERS))
def test_stats_operations_document_parameters_and_token_auth(
    schema: dict[str, Any], path: str
) -> None:
    operation = schema["paths"][path]["get"]
    assert {p["name"] for p in operation.get("parameters", [])} == STATS_PARAMETERS[path]
    assert {name for requirement in operation["security"] for name in requirement} == {
        "tokenAuth",
        "cookieAuth",
    }
    assert {} not in operation["security"]  # not public


def test_enumerated_parameters_list_their_values(schema: dict[str, Any]) -> None:
    def parameter(path: str, name: str) -> dict[str, Any]:
        params = schema["paths"][path]["get"]["parameters"]
        found: dict[str, Any] = next(p for p in params if p["name"] == name)
        return found

    ordering = parameter("/api/stats/ads/", "ordering")["schema"]
    assert set(ordering["enum"]) == {
        "impressions",
        "-impressions",
        "unique_users",
        "-unique_users",
        "ad_id",
        "-ad_id",
    }
    assert ordering["default"] == "-impressions"
    interval = parameter("/api/stats/ads/{ad_id}/series/", "interval")["schema"]
    assert set(interval["enum"]) == {"minute", "hour", "day"}
    assert interval["default"] == "hour"


def test_token_auth_is_an_authorization_header_scheme(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["tokenAuth"]["type"] == "apiKey"
    assert schemes["tokenAuth"]["in"] == "header"
    assert schemes["tokenAuth"]["name"] == "Authorization"
    assert "Token" in schemes["tokenAuth"]["description"]
    assert schemes["cookieAuth"] == {"type": "apiKey", "in": "cookie", "name": "sessionid"}


@pytest.mark.parametrize("path", ["/api/impressions/", "/api/impressions/sync/"])
def test_ingest_documents_its_body_and_errors(schema: dict[str, Any], path: str) -> None:
    operation = schema["paths"][path]["post"]
    assert operation["security"] == [{}]  # public
    body = resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"])
    one, many = body["oneOf"]
    event = resolve(schema, one)
    assert set(event["properties"]) == EVENT_FIELDS | V2_FIELDS
    assert set(event["required"]) == {"ad_id", "user_id"}
    version = resolve(schema, event["properties"]["schema_version"]["allOf"][0])
    assert version["enum"] == [1, 2]  # a v1 body or a v2 body
    assert event["additionalProperties"] is False
    assert many["type"] == "array" and many["maxItems"] == 1000
    assert resolve(schema, many["items"]) == event

    responses = operation["responses"]
    bad = resolve(schema, responses["400"]["content"]["application/json"]["schema"])
    shapes = [set(resolve(schema, choice)["properties"]) for choice in bad["oneOf"]]
    assert {"error", "field", "index"} in shapes and {"detail"} in shapes
    for status in ("411", "413", "415", "429"):
        shape = resolve(schema, responses[status]["content"]["application/json"]["schema"])
        assert set(shape["properties"]) == {"detail"}, status
    assert "Retry-After" in responses["429"]["headers"]


def test_the_to_be_503_documents_retry_after_and_retry_body(schema: dict[str, Any]) -> None:
    unavailable = schema["paths"]["/api/impressions/"]["post"]["responses"]["503"]
    assert unavailable["headers"]["Retry-After"]["schema"]["type"] == "integer"
    body = resolve(schema, unavailable["content"]["application/json"]["schema"])
    assert set(body["required"]) == {"accepted", "event_ids", "error", "hint", "retry_body"}
    event = resolve(schema, body["properties"]["retry_body"]["items"])
    assert set(event["required"]) == EVENT_FIELDS


def test_the_list_answer_is_paginated(schema: dict[str, Any]) -> None:
    ok = schema["paths"]["/api/stats/ads/"]["get"]["responses"]["200"]
    page = resolve(schema, ok["content"]["application/json"]["schema"])
    assert set(page["properties"]) == {"count", "next", "previous", "results", "complete_through"}
    row = resolve(schema, page["properties"]["results"]["items"])
    assert set(row["properties"]) == {"ad_id", "impressions", "unique_users"}


def test_generation_validates_without_warnings(tmp_path: Path) -> None:
    """`manage.py spectacular --validate --fail-on-warn`: raises on any warning or error."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.read_text().startswith("openapi: 3.")


class _Resources(HTMLParser):
    """src/href of script and link tags, and the text of inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.urls.append(values["src"] or "")
            else:
                self._in_script = True
                self.inline_scripts.append("")
        elif tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_scripts[-1] += data


def test_docs_are_public_and_load_only_same_origin_files() -> None:
    client = Client()  # anonymous
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = _Resources()
    page.feed(response.content.decode())
    # CSP script-src 'self': no inline script, only files.
    assert [s for s in page.inline_scripts if s.strip()] == []
    assert len(page.urls) >= 4  # favicon, css, bundle, preset, init script
    for url in page.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is not same-origin"
        assert parts.path.startswith("/"), url
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.getvalue(), url  # reads (and so closes) a streamed static file
    scripts = [url for url in page.urls if "script=" in url]
    assert len(scripts) == 1
    init = client.get(scripts[0])
    assert init["Content-Type"].startswith("application/javascript")
    code = init.content.decode()
    assert "SwaggerUIBundle(" in code and "/api/schema/" in code
    assert re.search(r"https?://", code) is None  # nothing fetched from elsewhere


def test_stats_still_need_auth_while_docs_are_public() -> None:
    client = Client()
    assert client.get("/api/stats/ads/").status_code == 401
    assert client.get("/api/schema/").status_code == 200
