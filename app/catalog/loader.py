"""Read the catalog YAML into the typed model, with errors that name the line and the field.

The YAML is composed (not loaded) so that every value keeps the line it was written on;
the loader then turns the human forms (``interval: 60s``, ``hours: {mon-fri: ...}``) into
the model's forms (``interval_ms``, ``OperatingHours``) and lets pydantic check the rest,
mapping each pydantic ``loc`` back to the YAML line. The first problem found stops the
load: a monitor must never run on a half-understood catalog.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.catalog.durations import parse_duration
from app.catalog.hours import merge_ranges, parse_dates_off, parse_days, parse_time_range
from app.catalog.model import ID_PATTERN, Catalog
from app.sla.calendar import MinuteRange, MonthDay, OperatingHours

BUILT_IN_SOURCE = "<built-in>"
CHECK_TYPES = ("http", "tcp", "tls")

# The YAML keys allowed at each level. They differ from the model's field names where the
# YAML is written for people (``interval: 60s``) and the model for code (``interval_ms``).
CATALOG_KEYS = ("timezone", "unknown_policy", "systems")
SYSTEM_KEYS = ("id", "name", "target", "recovery_target", "services")
SERVICE_KEYS = (
    "id", "name", "target", "core", "quorum", "hours", "dates_off", "recovery_target",
    "unknown_policy", "checks",
)  # fmt: skip
CHECK_KEYS: dict[str, tuple[str, ...]] = {
    "http": (
        "url", "method", "headers", "expected_status", "body_contains", "json_field",
        "verify_tls", "new_connection", "basic_auth",
    ),
    "tcp": ("host", "port"),
    "tls": ("host", "port", "server_name", "min_days_left", "expiring_is_failure", "verify_tls"),
}  # fmt: skip
CHECK_COMMON_KEYS = (
    "id", "type", "interval", "timeout", "confirm", "stale_after", "retry_interval",
    "slow_after", "slow_is_failure",
)  # fmt: skip
NAME_KEYS = ("ja", "en")
JSON_FIELD_KEYS = ("path", "equals")
BASIC_AUTH_KEYS = ("username", "password")
# Model field -> YAML key, to point pydantic's errors at what the user wrote.
_YAML_KEY_OF_FIELD = {
    "interval_ms": "interval",
    "timeout_ms": "timeout",
    "stale_after_ms": "stale_after",
    "retry_interval_ms": "retry_interval",
    "slow_after_ms": "slow_after",
    "recovery_target_ms": "recovery_target",
}
# Top-level keys starting with this are ignored: a place to define YAML anchors.
EXTENSION_PREFIX = "x-"
_ID = re.compile(ID_PATTERN)
_MERGE_TAG = "tag:yaml.org,2002:merge"

YamlPath = tuple[str | int, ...]


class CatalogError(Exception):
    """A catalog that cannot be used, with where and why.

    ``str(err)`` is one line, ``<file>:<line>: <field>: <message>``, the form editors and
    CI logs turn into a link; ``line`` and ``field`` are None when the problem has no
    place (a file that cannot be read).
    """

    def __init__(self, file: str, line: int | None, field: str | None, message: str) -> None:
        self.file = file
        self.line = line
        self.field = field
        # One line whatever the cause, so that the CLI can print it as is.
        self.message = " ".join(message.split())
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


def format_path(path: YamlPath) -> str:
    """``("systems", 2, "services", 0, "id")`` as ``systems[2].services[0].id``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def default_catalog_text() -> str:
    return resources.files("app.catalog").joinpath("default.yaml").read_bytes().decode("utf-8")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog in the YAML file at ``path``; ``None`` is the built-in catalog.

    Raises ``CatalogError`` for a file that cannot be read or is not a valid catalog.
    """
    if path is None:
        return parse_catalog(default_catalog_text(), BUILT_IN_SOURCE)
    source = str(path)
    try:
        # Bytes, not read_text(): newline translation would change the SHA-256 of the file.
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogError(source, None, None, f"cannot read the catalog: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(
            source, None, None, f"the catalog must be UTF-8 text (byte {exc.start} is not)"
        ) from exc
    return parse_catalog(text, source)


def parse_catalog(text: str, source: str) -> Catalog:
    """The catalog written in ``text``; ``source`` names it in errors and in ``Catalog.source``."""
    document = _compose(text, source)
    builder = _Builder(source, document)
    model_input = builder.catalog()
    model_input["source"] = source
    model_input["sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        return Catalog.model_validate(model_input)
    except ValidationError as exc:
        raise _from_validation_error(exc, source, document) from None


# --- YAML with positions -----------------------------------------------------------------


@dataclass
class _Document:
    """The YAML as plain values, with the node each path came from (for its line)."""

    root: Any
    root_line: int
    value_nodes: dict[YamlPath, Node] = field(default_factory=dict)
    key_nodes: dict[YamlPath, Node] = field(default_factory=dict)

    def value_line(self, path: YamlPath) -> int:
        # A missing key has no line of its own: point at the nearest enclosing value.
        while path:
            node = self.value_nodes.get(path)
            if node is not None:
                return int(node.start_mark.line) + 1
            path = path[:-1]
        return self.root_line

    def key_line(self, path: YamlPath) -> int:
        node = self.key_nodes.get(path)
        return int(node.start_mark.line) + 1 if node is not None else self.value_line(path)

    def scalar_text(self, path: YamlPath) -> str | None:
        """The characters written for a scalar, before YAML typed them (``0.999``)."""
        node = self.value_nodes.get(path)
        return str(node.value) if isinstance(node, ScalarNode) else None


def _compose(text: str, source: str) -> _Document:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise CatalogError(source, line, None, f"invalid YAML: {problem}{context}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(source, None, None, f"invalid YAML: {exc}") from None
    if root is None:
        raise CatalogError(
            source,
            1,
            None,
            "the catalog is empty; it needs at least 'systems' (see docs/catalog.md)",
        )
    document = _Document(root=None, root_line=int(root.start_mark.line) + 1)
    converter = _Converter(source, document)
    document.root = converter.convert(root, ())
    return document


class _Converter:
    """Composed nodes -> dicts, lists and scalars, recording each path's node."""

    def __init__(self, source: str, document: _Document) -> None:
        self._source = source
        self._document = document
        self._constructor = SafeConstructor()
        self._active: set[int] = set()

    def _fail(self, node: Node, message: str, path: YamlPath) -> NoReturn:
        raise CatalogError(
            self._source, int(node.start_mark.line) + 1, format_path(path) or None, message
        )

    def convert(self, node: Node, path: YamlPath) -> Any:
        self._document.value_nodes.setdefault(path, node)
        if isinstance(node, ScalarNode):
            try:
                return self._constructor.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                problem = getattr(exc, "problem", None) or str(exc)
                self._fail(node, f"cannot read this value: {problem}", path)
        if id(node) in self._active:
            self._fail(node, "an alias refers to a value that contains it", path)
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.convert(item, (*path, index)) for index, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self._convert_mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _convert_mapping(self, node: MappingNode, path: YamlPath) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(
                    value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                )
                continue
            if not isinstance(key_node, ScalarNode):
                self._fail(key_node, "a key must be plain text", path)
            # The written text, so that a key such as "on" or "1" is not turned into a bool/int.
            key = str(key_node.value)
            if key in mapping:
                first_line = self._document.key_line((*path, key))
                self._fail(
                    key_node,
                    f"duplicate key {key!r} (first given at line {first_line})",
                    (*path, key),
                )
            # setdefault: a key written in the mapping keeps its line over a merged one.
            self._document.key_nodes.setdefault((*path, key), key_node)
            mapping[key] = self.convert(value_node, (*path, key))
        # YAML merge keys ("<<: *defaults"): keys written here win, then earlier merges.
        for merged_node in merged:
            if not isinstance(merged_node, MappingNode):
                self._fail(merged_node, "'<<' must merge a mapping or a list of mappings", path)
            for key, value in self._convert_mapping(merged_node, path).items():
                mapping.setdefault(key, value)
        return mapping


# --- YAML forms -> model input -----------------------------------------------------------


class _Builder:
    def __init__(self, source: str, document: _Document) -> None:
        self._source = source
        self._document = document

    def _fail(self, path: YamlPath, message: str, *, at_key: bool = False) -> NoReturn:
        line = self._document.key_line(path) if at_key else self._document.value_line(path)
        raise CatalogError(self._source, line, format_path(path) or None, message)

    def _mapping(self, path: YamlPath, value: Any, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self._fail(path, f"expected {what} (a mapping of keys to values), got {_kind(value)}")
        return value

    def _list(self, path: YamlPath, value: Any, what: str) -> list[Any]:
        if not isinstance(value, list):
            self._fail(path, f"expected a list of {what}, got {_kind(value)}")
        if not value:
            self._fail(path, f"expected at least one of {what}, got an empty list")
        return value

    def _check_keys(
        self, path: YamlPath, mapping: Mapping[str, Any], allowed: tuple[str, ...], *,
        required: tuple[str, ...] = (), extensions: bool = False,
    ) -> None:  # fmt: skip
        for key in mapping:
            if key in allowed or (extensions and key.startswith(EXTENSION_PREFIX)):
                continue
            hint = f"allowed keys: {', '.join(allowed)}"
            if extensions:
                hint += f" (and keys starting with {EXTENSION_PREFIX!r}, which are ignored)"
            self._fail((*path, key), f"unknown key {key!r}; {hint}", at_key=True)
        for key in required:
            if key not in mapping:
                self._fail((*path, key), f"missing required key {key!r}")

    def _id(self, path: YamlPath, mapping: Mapping[str, Any]) -> str | None:
        item_id = mapping.get("id")
        if isinstance(item_id, str) and not _ID.fullmatch(item_id):
            self._fail(
                (*path, "id"),
                f"id must be lower-case letters, digits and '-', starting with a letter or "
                f"digit (like 'info-network'); got {item_id!r}",
            )
        return item_id if isinstance(item_id, str) else None

    def _unique_ids(self, path: YamlPath, items: list[dict[str, Any]], what: str) -> None:
        first_index: dict[str, int] = {}
        for index, item in enumerate(items):
            item_id = item.get("id")
            if not isinstance(item_id, str):
                continue
            if item_id in first_index:
                first_line = self._document.value_line((*path, first_index[item_id], "id"))
                self._fail(
                    (*path, index, "id"),
                    f"duplicate {what} id {item_id!r} (first used at line {first_line}); "
                    f"ids must be unique within their parent",
                )
            first_index[item_id] = index

    def _duration_ms(self, path: YamlPath, value: Any) -> int:
        try:
            duration_ms = parse_duration(value)
        except ValueError as exc:
            self._fail(path, str(exc))
        if duration_ms <= 0:
            self._fail(path, f"must be longer than 0; got {value!r}")
        return duration_ms

    def _target(self, path: YamlPath, value: Any) -> Any:
        # The written digits, not YAML's float: Decimal("0.999") is exact, 0.999 is not.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return self._document.scalar_text(path) or value
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                return Decimal(value.strip()[:-1].strip()) / 100
            except InvalidOperation:
                self._fail(path, f"expected a ratio such as 0.999 or a percentage such as "
                                 f"'99.9%'; got {value!r}")  # fmt: skip
        return value

    def catalog(self) -> dict[str, Any]:
        root = self._mapping((), self._document.root, "the catalog")
        self._check_keys((), root, CATALOG_KEYS, required=("systems",), extensions=True)
        path: YamlPath = ("systems",)
        systems = self._list(path, root["systems"], "systems")
        built = [self.system((*path, index), raw) for index, raw in enumerate(systems)]
        self._unique_ids(path, systems, "system")
        model_input: dict[str, Any] = {
            key: root[key] for key in ("timezone", "unknown_policy") if key in root
        }
        model_input["systems"] = built
        return model_input

    def system(self, path: YamlPath, raw: Any) -> dict[str, Any]:
        system = self._mapping(path, raw, "a system")
        self._check_keys(path, system, SYSTEM_KEYS, required=("id", "services"))
        system_id = self._id(path, system)
        model_input: dict[str, Any] = {
            key: system[key] for key in ("id", "name", "target") if key in system
        }
        if "name" in system:
            model_input["name"] = self.name((*path, "name"), system["name"])
        if "target" in system:
            model_input["target"] = self._target((*path, "target"), system["target"])
        recovery_target_ms = None
        if "recovery_target" in system:
            recovery_target_ms = self._duration_ms(
                (*path, "recovery_target"), system["recovery_target"]
            )
            model_input["recovery_target_ms"] = recovery_target_ms
        services_path = (*path, "services")
        services = self._list(services_path, system["services"], "services")
        model_input["services"] = [
            self.service((*services_path, index), raw_service, system_id, recovery_target_ms)
            for index, raw_service in enumerate(services)
        ]
        self._unique_ids(services_path, services, "service")
        return model_input

    def name(self, path: YamlPath, raw: Any) -> dict[str, Any]:
        name = self._mapping(path, raw, "a name in both languages, {ja: ..., en: ...}")
        self._check_keys(path, name, NAME_KEYS, required=NAME_KEYS)
        return name

    def service(
        self, path: YamlPath, raw: Any, system_id: str | None, system_recovery_ms: int | None
    ) -> dict[str, Any]:
        service = self._mapping(path, raw, "a service")
        self._check_keys(path, service, SERVICE_KEYS, required=("id", "checks"))
        service_id = self._id(path, service)
        passed_through = ("id", "core", "quorum", "unknown_policy")
        model_input: dict[str, Any] = {
            key: service[key] for key in passed_through if key in service
        }
        model_input["system_id"] = system_id or ""
        if "name" in service:
            model_input["name"] = self.name((*path, "name"), service["name"])
        if "target" in service:
            model_input["target"] = self._target((*path, "target"), service["target"])
        # A service inherits its system's recovery target unless it sets its own (§6).
        model_input["recovery_target_ms"] = (
            self._duration_ms((*path, "recovery_target"), service["recovery_target"])
            if "recovery_target" in service
            else system_recovery_ms
        )
        model_input["hours"] = self.hours(path, service)
        checks_path = (*path, "checks")
        checks = self._list(checks_path, service["checks"], "checks")
        key_prefix = f"{system_id}/{service_id}"
        model_input["checks"] = [
            self.check((*checks_path, index), raw_check, key_prefix)
            for index, raw_check in enumerate(checks)
        ]
        self._unique_ids(checks_path, checks, "check")
        return model_input

    def hours(self, path: YamlPath, service: Mapping[str, Any]) -> OperatingHours:
        weekly: dict[int, tuple[MinuteRange, ...]] | None = None
        if "hours" in service:
            weekly = self._weekly((*path, "hours"), service["hours"])
        dates_off: tuple[tuple[MonthDay, MonthDay], ...] = ()
        if "dates_off" in service:
            dates_off = self._dates_off((*path, "dates_off"), service["dates_off"])
        return OperatingHours(weekly=weekly, dates_off=dates_off)

    def _weekly(self, path: YamlPath, raw: Any) -> dict[int, tuple[MinuteRange, ...]]:
        hours = self._mapping(path, raw, "weekly hours such as {mon-fri: '08:30-21:00'}")
        if not hours:
            self._fail(path, "no hours given; leave 'hours' out for a service scheduled 24x7")
        weekly: dict[int, tuple[MinuteRange, ...]] = {}
        day_given_by: dict[int, str] = {}
        for day_spec, ranges_value in hours.items():
            day_path = (*path, day_spec)
            try:
                days = parse_days(day_spec)
            except ValueError as exc:
                self._fail(day_path, str(exc), at_key=True)
            for day in days:
                if day in day_given_by:
                    self._fail(
                        day_path,
                        f"{day_spec!r} repeats a day already given by {day_given_by[day]!r}; "
                        f"each day may appear under one key only",
                        at_key=True,
                    )
                day_given_by[day] = day_spec
            ranges = self._time_ranges(day_path, ranges_value)
            for day in days:
                weekly[day] = ranges
        return weekly

    def _time_ranges(self, path: YamlPath, raw: Any) -> tuple[MinuteRange, ...]:
        items = raw if isinstance(raw, list) else [raw]
        item_paths = (
            [(*path, index) for index in range(len(items))] if isinstance(raw, list) else [path]
        )
        if not items:
            self._fail(path, "expected 'HH:MM-HH:MM' or a list of them, got an empty list")
        ranges: list[MinuteRange] = []
        for item_path, item in zip(item_paths, items, strict=True):
            if not isinstance(item, str):
                # YAML reads an unquoted 9:00 as the number 540 (base 60); say so.
                self._fail(
                    item_path,
                    f"expected a quoted range 'HH:MM-HH:MM' such as '08:30-21:00', got "
                    f"{_kind(item)}",
                )
            try:
                ranges.append(parse_time_range(item))
            except ValueError as exc:
                self._fail(item_path, str(exc))
        return merge_ranges(ranges)

    def _dates_off(self, path: YamlPath, raw: Any) -> tuple[tuple[MonthDay, MonthDay], ...]:
        items = raw if isinstance(raw, list) else [raw]
        item_paths = (
            [(*path, index) for index in range(len(items))] if isinstance(raw, list) else [path]
        )
        dates_off: list[tuple[MonthDay, MonthDay]] = []
        for item_path, item in zip(item_paths, items, strict=True):
            if not isinstance(item, str):
                self._fail(
                    item_path,
                    f"expected a quoted 'MM-DD' or 'MM-DD..MM-DD' such as '12-29..01-03', got "
                    f"{_kind(item)}",
                )
            try:
                dates_off.append(parse_dates_off(item))
            except ValueError as exc:
                self._fail(item_path, str(exc))
        return tuple(dates_off)

    def check(self, path: YamlPath, raw: Any, key_prefix: str) -> dict[str, Any]:
        check = self._mapping(path, raw, "a check")
        check_type = check.get("type")
        if "type" not in check:
            self._fail((*path, "type"), f"missing required key 'type' ({' | '.join(CHECK_TYPES)})")
        if check_type not in CHECK_TYPES:
            self._fail(
                (*path, "type"), f"type must be one of {', '.join(CHECK_TYPES)}; got {check_type!r}"
            )
        self._check_keys(path, check, CHECK_COMMON_KEYS + CHECK_KEYS[check_type], required=("id",))
        check_id = self._id(path, check)
        model_input: dict[str, Any] = {}
        for key, value in check.items():
            if key in ("interval", "timeout", "stale_after", "retry_interval", "slow_after"):
                model_input[f"{key}_ms"] = self._duration_ms((*path, key), value)
            elif key == "json_field" and isinstance(value, dict):
                self._check_keys((*path, key), value, JSON_FIELD_KEYS)
                model_input[key] = value
            elif key == "basic_auth" and isinstance(value, dict):
                self._check_keys((*path, key), value, BASIC_AUTH_KEYS)
                model_input[key] = value
            elif key == "expected_status" and isinstance(value, int):
                # "expected_status: 204" reads better than a one-item list.
                model_input[key] = [value]
            else:
                model_input[key] = value
        model_input["key"] = f"{key_prefix}/{check_id}"
        return model_input


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"a {type(value).__name__} ({value})"


# --- pydantic errors -> YAML lines -------------------------------------------------------


def _yaml_path(document: _Document, loc: tuple[int | str, ...]) -> YamlPath:
    """Follow a pydantic ``loc`` through the YAML values, renaming model fields to YAML keys.

    Union members add names to ``loc`` that are not in the YAML (the check type of a
    discriminated union, 'str' or 'int' of a plain union); they are skipped, except a last
    element that names a missing field.
    """
    path: YamlPath = ()
    current: Any = document.root
    for index, element in enumerate(loc):
        is_last = index == len(loc) - 1
        if isinstance(current, list) and isinstance(element, int) and element < len(current):
            path, current = (*path, element), current[element]
        elif isinstance(current, dict):
            key = _YAML_KEY_OF_FIELD.get(str(element), str(element))
            if key in current:
                path, current = (*path, key), current[key]
            elif is_last:
                path = (*path, key)
        else:
            break
    return path


def _from_validation_error(exc: ValidationError, source: str, document: _Document) -> CatalogError:
    errors = exc.errors()
    # A failed item also makes its parent list "too short"; report the item, not the echo.
    specific = [error for error in errors if error["type"] != "too_short"] or errors
    located: list[tuple[int, YamlPath, list[str]]] = []
    for error in specific:
        path = _yaml_path(document, error["loc"])
        line = document.value_line(path)
        message = _message(error, path)
        for entry in located:
            if entry[1] == path:
                entry[2].append(message)
                break
        else:
            located.append((line, path, [message]))
    line, path, messages = min(located, key=lambda entry: entry[0])
    if len(messages) > 1:
        # A value checked against a union fails once per member type.
        message = "no accepted form matches: " + "; ".join(dict.fromkeys(messages))
    else:
        message = messages[0]
    return CatalogError(source, line, format_path(path) or None, message)


def _message(error: Mapping[str, Any], path: YamlPath) -> str:
    if error["type"] == "missing":
        return f"missing required key {path[-1]!r}" if path else "missing required key"
    message = str(error["msg"])
    if error["type"] == "value_error":
        return message.removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        message += f"; got {_kind(value)}"
    return message
