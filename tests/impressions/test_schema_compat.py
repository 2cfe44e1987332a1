"""BACKWARD_TRANSITIVE compatibility: the rules, and `manage.py checkschemas` on the committed
schemas (so `make test` runs the check) and on a folder with a break."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from impressions.schema_checks import SCHEMA_DIR, committed_versions
from impressions.schema_compat import Schema, backward_problems, backward_transitive

V1, V2 = (schema for _, schema in committed_versions(SCHEMA_DIR))


def event_object(schema: Schema) -> dict[str, Any]:
    node: dict[str, Any] = schema["$defs"]["AdImpressionEvent"]
    return node


def evolved(base: Schema, change: Callable[[dict[str, Any]], None]) -> Schema:
    """A copy of `base` with `change` applied to its event object."""
    schema = copy.deepcopy(base)
    change(event_object(schema))
    return schema


def add_required(event: dict[str, Any]) -> None:
    event["properties"]["region"] = {"type": "string"}
    event["required"].append("region")


def add_optional(event: dict[str, Any]) -> None:
    event["properties"]["region"] = {"type": "string", "maxLength": 32}


def remove_field(event: dict[str, Any]) -> None:
    del event["properties"]["campaign_id"]


def narrow_type(event: dict[str, Any]) -> None:
    event["properties"]["user_id"] = {"type": "integer"}


def shorten(event: dict[str, Any]) -> None:
    event["properties"]["user_id"]["maxLength"] = 64


def remove_enum_value(event: dict[str, Any]) -> None:
    event["properties"]["device"]["enum"].remove("tablet")


def open_up(event: dict[str, Any]) -> None:
    event["additionalProperties"] = True


@pytest.mark.parametrize(
    ("change", "rule", "path"),
    [
        (add_required, "new required field", "region"),
        (remove_field, "removed field", "campaign_id"),
        (narrow_type, "narrowed type", "user_id"),
        (shorten, "narrowed type", "user_id"),
        (remove_enum_value, "removed enum value", "device"),
    ],
)
def test_each_break_is_rejected_naming_the_rule_and_field(
    change: Callable[[dict[str, Any]], None], rule: str, path: str
) -> None:
    v3 = evolved(V2, change)
    problems = backward_problems(v3, V2)
    assert [(p.rule, p.path) for p in problems] == [(rule, path)], [str(p) for p in problems]


def test_a_new_optional_field_is_accepted() -> None:
    v3 = evolved(V2, add_optional)
    assert backward_problems(v3, V2) == []
    assert all(verdict.compatible for verdict in backward_transitive([(1, V1), (2, V2), (3, v3)]))


def test_widening_is_accepted() -> None:
    def widen(event: dict[str, Any]) -> None:
        event["properties"]["device"]["enum"].append("watch")
        event["properties"]["user_id"]["maxLength"] = 256
        event["properties"]["schema_version"]["enum"].append(3)

    assert backward_problems(evolved(V2, widen), V2) == []


def test_the_committed_versions_are_compatible_and_the_reverse_is_not() -> None:
    assert backward_problems(V2, V1) == []
    # v1 cannot read v2 data (FORWARD compatibility is not promised): it would be refused.
    assert {p.rule for p in backward_problems(V1, V2)} == {"removed field", "removed enum value"}


def test_transitive_checks_every_older_version_not_only_the_last() -> None:
    # v2 broke v1 (a new required field); v3 repeats v2 exactly, so a check against the last
    # version alone passes it, and only the transitive one still reports that v1 data breaks.
    v2 = evolved(V2, add_required)
    v3 = copy.deepcopy(v2)
    verdicts = {
        (v.reader, v.writer): v.compatible for v in backward_transitive([(1, V2), (2, v2), (3, v3)])
    }
    assert verdicts == {(2, 1): False, (3, 1): False, (3, 2): True}


def test_an_open_writer_allowed_any_value_of_a_field_it_did_not_list() -> None:
    open_v2 = evolved(V2, open_up)
    v3 = evolved(open_v2, add_optional)  # region: any value was valid in open v2 data
    assert [(p.rule, p.path) for p in backward_problems(v3, open_v2)] == [
        ("field added to an open model", "region")
    ]
    assert [p.rule for p in backward_problems(V2, open_v2)] == ["closed content model"]


def test_checkschemas_passes_on_the_committed_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("checkschemas")
    out = capsys.readouterr().out
    assert "v2 reads v1: compatible" in out
    assert "v1: closed" in out and "v2: closed" in out
    assert "all 2 schema checks passed" in out


def test_checkschemas_fails_on_a_break_with_a_clear_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for version, schema in ((1, V1), (2, V2), (3, evolved(V2, add_required))):
        (tmp_path / f"ad_impression_event.v{version}.json").write_text(json.dumps(schema))
    with pytest.raises(CommandError, match="schema check"):
        call_command("checkschemas", schema_dir=tmp_path)
    out = capsys.readouterr().out
    assert "v3 reads v1: INCOMPATIBLE" in out
    assert "v3 reads v2: INCOMPATIBLE" in out
    assert "new required field at `region`: old data may lack it" in out
    assert "the code writes v2, the latest committed is v3" in out


def test_checkschemas_refuses_an_open_schema_and_a_gap(tmp_path: Path) -> None:
    (tmp_path / "ad_impression_event.v1.json").write_text(json.dumps(evolved(V1, open_up)))
    (tmp_path / "ad_impression_event.v2.json").write_text(json.dumps(V2))
    with pytest.raises(CommandError):
        call_command("checkschemas", schema_dir=tmp_path)
    (tmp_path / "ad_impression_event.v1.json").unlink()
    with pytest.raises(CommandError):
        call_command("checkschemas", schema_dir=tmp_path)
