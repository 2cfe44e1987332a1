"""BACKWARD_TRANSITIVE compatibility between JSON Schema versions of an event (pure).

"Backward" as schema registries define it: a consumer on the new schema can read data written
with the old one, i.e. every document the old (writer) schema accepts, the new (reader) schema
accepts too. "Transitive": each version against every older one, not only the one before.

The rules are the ones that matter for a closed (`additionalProperties: false`) object of
scalar fields, decided conservatively: what cannot be shown to be a widening is reported.

- a field required by the reader but not by the writer (old data may lack it);
- a field the writer allowed that a closed reader no longer lists (old data may hold it);
- a reader closed where the writer was open;
- a field constrained by the reader that an open writer did not list (any value was allowed);
- a narrowed value: another `type` (integer widens to number, nothing else), an enum or const
  that lost values or appeared on a free value, a lower `maximum`/`maxLength`/`maxItems`, a
  higher `minimum`/`minLength`/`minItems`, a `pattern` or `format` that is new or different,
  and any other keyword (`anyOf`, `not`, ...) that differs, since it cannot be compared.

Only Python and the schemas as dicts: no Django, no file or network access, so the lead can
put a schema registry's verdict beside this one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_RESTRICTIONS = ("pattern", "format", "multipleOf", "uniqueItems")
# Compared by the rules above (or harmless annotations); any other keyword must be equal.
_UNDERSTOOD = {
    *_LOWER_BOUNDS,
    *_UPPER_BOUNDS,
    *_RESTRICTIONS,
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "$ref",
    "$defs",
    "$schema",
    "$id",
    "title",
    "description",
    "default",
    "examples",
}


@dataclass(frozen=True)
class Incompatibility:
    """One way data written with the old schema would be refused by the new one."""

    path: str  # the field, e.g. `device` (`` for the event itself)
    rule: str  # e.g. "new required field", "removed field", "narrowed type"
    detail: str

    def __str__(self) -> str:
        where = f"`{self.path}`" if self.path else "the event"
        return f"{self.rule} at {where}: {self.detail}"


@dataclass(frozen=True)
class PairVerdict:
    """Whether version `reader` reads the data of version `writer`, and if not, why."""

    reader: int
    writer: int
    problems: tuple[Incompatibility, ...]

    @property
    def compatible(self) -> bool:
        return not self.problems


def resolve(schema: Schema, node: Schema) -> Schema:
    """`node` with its local `$ref`s (`#/$defs/...`) followed within `schema`."""
    seen = 0
    while "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, not {ref!r}")
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target[part]
        # Keywords beside the $ref apply too (the root's $defs and annotations are harmless).
        node = {**target, **{key: value for key, value in node.items() if key != "$ref"}}
        seen += 1
        if seen > 32:
            raise ValueError(f"$ref cycle at {ref!r}")
    return node


def is_closed(schema: Schema) -> bool:
    """Whether the event object refuses fields it does not list."""
    return resolve(schema, schema).get("additionalProperties") is False


def backward_problems(reader: Schema, writer: Schema) -> list[Incompatibility]:
    """Every reason a document valid under `writer` may be invalid under `reader` (empty: the
    reader reads all of the writer's data)."""
    return _object_problems(reader, resolve(reader, reader), writer, resolve(writer, writer), "")


def backward_transitive(versions: Sequence[tuple[int, Schema]]) -> list[PairVerdict]:
    """Each version (in ascending order) against every older one."""
    ordered = sorted(versions, key=lambda item: item[0])
    return [
        PairVerdict(new, old, tuple(backward_problems(new_schema, old_schema)))
        for index, (new, new_schema) in enumerate(ordered)
        for old, old_schema in ordered[:index]
    ]


def _object_problems(
    reader_root: Schema, reader: Schema, writer_root: Schema, writer: Schema, path: str
) -> list[Incompatibility]:
    problems = []
    r_props, w_props = reader.get("properties", {}), writer.get("properties", {})
    r_closed = reader.get("additionalProperties") is False
    if r_closed and writer.get("additionalProperties") is not False:
        problems.append(
            Incompatibility(path, "closed content model", "the writer allowed any extra field")
        )
    for name in reader.get("required", []):
        if name not in writer.get("required", []):
            problems.append(
                Incompatibility(_join(path, name), "new required field", "old data may lack it")
            )
    for name in w_props:
        if name not in r_props and r_closed:
            problems.append(
                Incompatibility(
                    _join(path, name), "removed field", "old data may hold it; the reader is closed"
                )
            )
    if writer.get("additionalProperties") is not False:
        for name, r_node in r_props.items():
            if name not in w_props and r_node not in ({}, True):
                problems.append(
                    Incompatibility(
                        _join(path, name),
                        "field added to an open model",
                        "old data may hold it with any value",
                    )
                )
    for name, w_node in w_props.items():
        if name in r_props:
            problems += _value_problems(
                reader_root,
                resolve(reader_root, r_props[name]),
                writer_root,
                resolve(writer_root, w_node),
                _join(path, name),
            )
    return problems


def _value_problems(
    reader_root: Schema, reader: Schema, writer_root: Schema, writer: Schema, path: str
) -> list[Incompatibility]:
    problems = []
    r_types, w_types = _types(reader), _types(writer)
    if r_types is not None:
        lost = sorted(t for t in (w_types or {"any"}) if not _type_reads(r_types, t))
        if lost:
            problems.append(
                Incompatibility(
                    path, "narrowed type", f"{', '.join(lost)} no longer accepted ({_show(reader)})"
                )
            )
    r_values, w_values = _allowed_values(reader), _allowed_values(writer)
    if r_values is not None:
        if w_values is None:
            problems.append(Incompatibility(path, "narrowed type", "a free value became an enum"))
        else:
            for value in sorted(w_values.keys() - r_values.keys()):
                problems.append(Incompatibility(path, "removed enum value", value))
    problems += _bound_problems(reader, writer, path)
    if "object" in (r_types or set()) and "object" in (w_types or set()):
        problems += _object_problems(reader_root, reader, writer_root, writer, path)
    if "items" in reader and "items" in writer:
        problems += _value_problems(
            reader_root,
            resolve(reader_root, reader["items"]),
            writer_root,
            resolve(writer_root, writer["items"]),
            f"{path}[]",
        )
    elif "items" in reader:
        problems.append(Incompatibility(path, "narrowed type", "array items became constrained"))
    for key in sorted((reader.keys() | writer.keys()) - _UNDERSTOOD):
        if reader.get(key) != writer.get(key):
            problems.append(
                Incompatibility(path, "cannot compare", f"`{key}` differs; assumed narrowed")
            )
    return problems


def _bound_problems(reader: Schema, writer: Schema, path: str) -> list[Incompatibility]:
    problems = []
    for key in _LOWER_BOUNDS:
        if key in reader and (key not in writer or reader[key] > writer[key]):
            problems.append(
                Incompatibility(path, "narrowed type", f"{key} {writer.get(key)} -> {reader[key]}")
            )
    for key in _UPPER_BOUNDS:
        if key in reader and (key not in writer or reader[key] < writer[key]):
            problems.append(
                Incompatibility(path, "narrowed type", f"{key} {writer.get(key)} -> {reader[key]}")
            )
    for key in _RESTRICTIONS:
        if key in reader and reader[key] != writer.get(key):
            problems.append(
                Incompatibility(
                    path, "narrowed type", f"{key} {writer.get(key)!r} -> {reader[key]!r}"
                )
            )
    return problems


def _types(node: Schema) -> set[str] | None:
    """The JSON types a node accepts (None: any), from `type` or from its enum/const values."""
    if "type" in node:
        declared = node["type"]
        return {declared} if isinstance(declared, str) else set(declared)
    values = _allowed_values(node)
    if values is None:
        return None
    return {_json_type(json.loads(text)) for text in values}


def _type_reads(reader_types: set[str], writer_type: str) -> bool:
    if writer_type in reader_types:
        return True
    return writer_type == "integer" and "number" in reader_types


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _allowed_values(node: Schema) -> dict[str, Any] | None:
    """The enum's (or const's) values keyed by their JSON text (so 1 and true differ)."""
    if "const" in node:
        values = [node["const"]]
    elif "enum" in node:
        values = list(node["enum"])
    else:
        return None
    return {json.dumps(value, sort_keys=True): value for value in values}


def _show(node: Schema) -> str:
    types = _types(node)
    return "accepts " + (", ".join(sorted(types)) if types else "nothing")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
