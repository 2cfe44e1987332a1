"""The checks `manage.py checkschemas` runs over the committed event schemas.

A check is a function of the schema folder that returns a `CheckReport` (its lines and whether
it passed); `SCHEMA_CHECKS` lists them in order. To add one (e.g. asking a schema registry for
its BACKWARD_TRANSITIVE verdict), write such a function and append it to the list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from impressions.contract import READABLE_VERSIONS, SCHEMA_VERSION, json_schema
from impressions.schema_compat import Schema, backward_transitive, is_closed
from impressions.schema_registry import COMPATIBILITY, check_with_registry

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SCHEMA_FILE = re.compile(r"ad_impression_event\.v(\d+)\.json")


@dataclass
class CheckReport:
    """What one check found: a title, one line per finding, and whether it passed."""

    title: str
    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def fail(self, line: str) -> None:
        self.ok = False
        self.lines.append(line)


SchemaCheck = Callable[[Path], CheckReport]


class SchemaFolderError(ValueError):
    """The folder does not hold a readable series of versions (v1..vN, valid JSON)."""


def committed_versions(folder: Path) -> list[tuple[int, Schema]]:
    """Every `ad_impression_event.vN.json` in `folder`, by version. Raises SchemaFolderError
    for a gap in the numbering, unreadable JSON, or no file at all."""
    found: dict[int, Schema] = {}
    for path in sorted(folder.glob("ad_impression_event.v*.json")):
        match = SCHEMA_FILE.fullmatch(path.name)
        if match is None:
            continue
        try:
            found[int(match.group(1))] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SchemaFolderError(f"{path.name}: {exc}") from None
    if not found:
        raise SchemaFolderError(f"no ad_impression_event.vN.json in {folder}")
    if sorted(found) != list(range(1, max(found) + 1)):
        raise SchemaFolderError(f"versions {sorted(found)} have a gap; expected 1..{max(found)}")
    return sorted(found.items())


def compatibility_check(folder: Path) -> CheckReport:
    """Every committed version is closed and reads the data of every older one."""
    report = CheckReport("committed schemas: closed, BACKWARD_TRANSITIVE")
    try:
        versions = committed_versions(folder)
    except SchemaFolderError as exc:
        report.fail(f"cannot read the schemas: {exc}")
        return report
    for version, schema in versions:
        if is_closed(schema):
            report.lines.append(f"v{version}: closed (additionalProperties: false)")
        else:
            report.fail(f"v{version}: NOT closed: set additionalProperties to false")
    for verdict in backward_transitive(versions):
        pair = f"v{verdict.reader} reads v{verdict.writer}"
        if verdict.compatible:
            report.lines.append(f"{pair}: compatible")
            continue
        report.fail(f"{pair}: INCOMPATIBLE")
        report.lines += [f"    - {problem}" for problem in verdict.problems]
    return report


def contract_check(folder: Path) -> CheckReport:
    """The code writes the latest committed version and reads every committed one."""
    report = CheckReport("the code's contract against the committed schemas")
    try:
        versions = dict(committed_versions(folder))
    except SchemaFolderError as exc:
        report.fail(f"cannot read the schemas: {exc}")
        return report
    latest = max(versions)
    name = f"ad_impression_event.v{SCHEMA_VERSION}.json"
    if SCHEMA_VERSION != latest:
        report.fail(f"the code writes v{SCHEMA_VERSION}, the latest committed is v{latest}")
    elif versions[latest] != json_schema():
        report.fail(
            f"the contract differs from {name}: commit a new version (a new file) or regenerate "
            f"with `python -m impressions.contract > impressions/schema/{name}`"
        )
    else:
        report.lines.append(f"the code writes v{SCHEMA_VERSION}, as committed in {name}")
    unread = sorted(set(versions) - set(READABLE_VERSIONS))
    if unread:
        report.fail(f"committed versions the code does not read: {unread}")
    else:
        report.lines.append(f"the code reads every committed version: {sorted(versions)}")
    return report


def registry_check(url: str, subject: str) -> SchemaCheck:
    """A check that registers the committed versions under `subject` in the schema registry at
    `url` (its Confluent-compatible API) at BACKWARD_TRANSITIVE and reports the registry's own
    verdict on each (impressions.schema_registry, an adapter)."""

    def check(folder: Path) -> CheckReport:
        report = CheckReport(f"schema registry {url}, subject {subject!r}, {COMPATIBILITY}")
        try:
            versions = committed_versions(folder)
        except SchemaFolderError as exc:
            report.fail(f"cannot read the schemas: {exc}")
            return report
        problems = check_with_registry(url, subject, [schema for _, schema in versions])
        for problem in problems:
            report.fail(problem)
        if not problems:
            listed = ", ".join(f"v{version}" for version, _ in versions)
            report.lines.append(f"{listed} registered; the registry finds each compatible")
        return report

    return check


SCHEMA_CHECKS: list[SchemaCheck] = [compatibility_check, contract_check]
"""What checkschemas runs, in order; append a check to add one (`--registry` adds
`registry_check`)."""
