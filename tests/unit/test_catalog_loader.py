"""The catalog loader: YAML forms to the model, and errors that name the line and the field."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from app.catalog import CatalogError, HttpCheck, TcpCheck, TlsCheck, load_catalog, parse_catalog
from app.sla.calendar import OperatingHours

BASE = """\
timezone: Asia/Tokyo
unknown_policy: exclude
systems:
  - id: info-network
    name: {ja: 情報提供ネットワークシステム, en: Information Provision Network}
    target: 0.999
    recovery_target: 8h
    services:
      - id: main
        name: {ja: 主要業務, en: Core operations}
        target: 0.999
        quorum: 1
        hours: {mon-fri: "08:30-21:00", sat: ["09:00-12:00", "13:00-17:00"]}
        dates_off: ["12-29..01-03", "05-03"]
        checks:
          - id: http
            type: http
            url: http://127.0.0.1:8081/info-network/main/health
            interval: 60s
            timeout: 10s
            confirm: 2
      - id: batch
        name: {ja: バッチ, en: Batch}
        target: 0.99
        core: false
        recovery_target: 1h30m
        checks:
          - id: db
            type: tcp
            host: 127.0.0.1
            port: 5432
            interval: 1m
            timeout: 5s
            stale_after: 10m
          - id: cert
            type: tls
            host: example.org
            interval: 1h
            timeout: 10s
  - id: mynaportal
    name: {ja: マイナポータル, en: Mynaportal}
    target: "99.99%"
    services:
      - id: records
        name: {ja: 情報提供等記録表示, en: Records}
        target: 0.9999
        checks:
          - id: http
            type: http
            url: https://example.org/records
            interval: 30
            timeout: 500ms
            expected_status: 204
"""


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of the only line holding ``fragment``."""
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(lines) == 1, (fragment, lines)
    return lines[0]


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def load_error(text: str) -> CatalogError:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "catalog.yaml")
    return caught.value


def test_base_catalog_maps_yaml_keys_to_model_fields() -> None:
    catalog = parse_catalog(BASE, "catalog.yaml")

    main = catalog.service("info-network", "main")
    check = main.checks[0]
    assert isinstance(check, HttpCheck)
    assert (check.interval_ms, check.timeout_ms, check.confirm) == (60_000, 10_000, 2)
    assert check.stale_after_ms == 3 * 60_000  # default: 3 x interval
    assert check.retry_interval_ms == 5_000  # default: 5 s, never above the interval
    assert check.key == "info-network/main/http"
    assert main.system_id == "info-network"
    assert main.key == "info-network/main"
    assert main.core is True
    assert catalog.timezone == "Asia/Tokyo"
    assert catalog.unknown_policy == "exclude"
    assert catalog.source == "catalog.yaml"

    batch = catalog.service("info-network", "batch")
    tcp, tls = batch.checks
    assert isinstance(tcp, TcpCheck) and isinstance(tls, TlsCheck)
    assert (tcp.host, tcp.port, tcp.stale_after_ms) == ("127.0.0.1", 5432, 600_000)
    assert tcp.retry_interval_ms == 5_000
    assert (tls.port, tls.interval_ms, tls.stale_after_ms) == (443, 3_600_000, 10_800_000)
    assert batch.core is False
    assert set(catalog.checks()) == {
        "info-network/main/http",
        "info-network/batch/db",
        "info-network/batch/cert",
        "mynaportal/records/http",
    }

    records_check = catalog.service("mynaportal", "records").checks[0]
    assert isinstance(records_check, HttpCheck)
    # A bare number is seconds; a single status is a one-item list.
    assert (records_check.interval_ms, records_check.timeout_ms) == (30_000, 500)
    assert records_check.expected_status == (204,)


def test_targets_are_exact_decimals_and_percentages_are_accepted() -> None:
    catalog = parse_catalog(BASE, "catalog.yaml")
    assert catalog.system("info-network").target == Decimal("0.999")
    assert catalog.service("info-network", "main").target == Decimal("0.999")
    # "99.99%" and 0.9999 mean the same ratio, with no float rounding in either.
    assert catalog.system("mynaportal").target == Decimal("0.9999")
    assert catalog.service("mynaportal", "records").target == Decimal("0.9999")
    assert 1 - catalog.service("info-network", "main").target == Decimal("0.001")


def test_recovery_target_is_inherited_unless_the_service_sets_its_own() -> None:
    catalog = parse_catalog(BASE, "catalog.yaml")
    assert catalog.system("info-network").recovery_target_ms == 8 * 3_600_000
    assert catalog.service("info-network", "main").recovery_target_ms == 8 * 3_600_000
    assert catalog.service("info-network", "batch").recovery_target_ms == 90 * 60_000
    assert catalog.system("mynaportal").recovery_target_ms is None
    assert catalog.service("mynaportal", "records").recovery_target_ms is None


def test_hours_and_dates_off_become_operating_hours() -> None:
    catalog = parse_catalog(BASE, "catalog.yaml")
    hours = catalog.service("info-network", "main").hours
    weekday = ((8 * 60 + 30, 21 * 60),)
    assert hours == OperatingHours(
        weekly={0: weekday, 1: weekday, 2: weekday, 3: weekday, 4: weekday,
                5: ((9 * 60, 12 * 60), (13 * 60, 17 * 60))},
        dates_off=(((12, 29), (1, 3)), ((5, 3), (5, 3))),
    )  # fmt: skip
    assert 6 not in (hours.weekly or {})  # Sunday not given: not scheduled
    assert catalog.service("info-network", "batch").hours.always


def test_daily_with_24_00_and_overlapping_ranges_merge() -> None:
    text = replace_once(
        BASE,
        'hours: {mon-fri: "08:30-21:00", sat: ["09:00-12:00", "13:00-17:00"]}',
        'hours: {daily: ["12:00-24:00", "00:00-06:00", "05:00-07:00"]}',
    )
    hours = parse_catalog(text, "catalog.yaml").service("info-network", "main").hours
    assert hours.weekly == {day: ((0, 7 * 60), (12 * 60, 1440)) for day in range(7)}


def test_sha256_is_of_the_text_and_stable() -> None:
    first = parse_catalog(BASE, "a.yaml")
    second = parse_catalog(BASE, "b.yaml")
    assert first.sha256 == second.sha256 == hashlib.sha256(BASE.encode()).hexdigest()
    # Any change to the text, even a comment, is a different catalog for reproducibility.
    assert parse_catalog(BASE + "# note\n", "a.yaml").sha256 != first.sha256


def test_load_catalog_reads_a_file_byte_for_byte(tmp_path: Path) -> None:
    catalog_file = tmp_path / "catalog.yaml"
    # CRLF line ends must be hashed as written, not after newline translation.
    raw = BASE.replace("\n", "\r\n").encode()
    catalog_file.write_bytes(raw)
    catalog = load_catalog(catalog_file)
    assert catalog.source == str(catalog_file)
    assert catalog.sha256 == hashlib.sha256(raw).hexdigest()
    assert len(catalog.services()) == 3


def test_load_catalog_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CatalogError) as caught:
        load_catalog(missing)
    assert caught.value.file == str(missing)
    assert caught.value.line is None
    assert str(caught.value).startswith(f"{missing}: cannot read the catalog")


def test_load_catalog_rejects_non_utf8(tmp_path: Path) -> None:
    catalog_file = tmp_path / "sjis.yaml"
    catalog_file.write_bytes(BASE.encode("shift_jis"))
    with pytest.raises(CatalogError, match="UTF-8"):
        load_catalog(catalog_file)


def test_merge_keys_and_extension_keys_share_check_settings() -> None:
    text = "x-probe: &probe {type: http, interval: 20s, timeout: 5s}\n" + replace_once(
        BASE,
        "            type: http\n            url: http://127.0.0.1:8081/info-network/main/health\n"
        "            interval: 60s\n            timeout: 10s\n",
        "            <<: *probe\n            url: http://127.0.0.1:8081/x\n"
        "            timeout: 7s\n",
    )
    check = parse_catalog(text, "catalog.yaml").service("info-network", "main").checks[0]
    # The check's own timeout wins over the merged one.
    assert (check.type, check.interval_ms, check.timeout_ms) == ("http", 20_000, 7_000)


# (name, old text, new text, fragment on the line the error must name, field, message part)
# fmt: off
ERROR_CASES = [
    ("bad duration", "interval: 60s", "interval: 60x", "interval: 60x",
     "systems[0].services[0].checks[0].interval", "expected a duration"),
    ("duration without unit", "interval: 60s", 'interval: "60"', 'interval: "60"',
     "systems[0].services[0].checks[0].interval", "no unit"),
    ("zero duration", "timeout: 10s\n            confirm", "timeout: 0s\n            confirm",
     "timeout: 0s", "systems[0].services[0].checks[0].timeout", "longer than 0"),
    ("unknown key", "            confirm: 2\n", "            confirm: 2\n            retries: 3\n",
     "retries: 3", "systems[0].services[0].checks[0].retries", "allowed keys: id, type"),
    ("unknown system key", "    recovery_target: 8h\n",
     "    recovery_target: 8h\n    owner: someone\n", "owner: someone",
     "systems[0].owner", "unknown key 'owner'"),
    ("target above 1", "target: 0.99\n", "target: 99\n", "target: 99",
     "systems[0].services[1].target", "strictly between 0 and 1"),
    ("target zero", '    target: "99.99%"', "    target: 0  # zero", "# zero",
     "systems[1].target", "strictly between 0 and 1"),
    ("target not a number", "target: 0.99\n", "target: high\n", "target: high",
     "systems[0].services[1].target", "decimal"),
    ("duplicate service id", "      - id: batch", "      - id: main  # again", "main  # again",
     "systems[0].services[1].id", "duplicate service id 'main'"),
    ("duplicate check id", "          - id: cert", "          - id: db  # again", "db  # again",
     "systems[0].services[1].checks[1].id", "duplicate check id 'db'"),
    ("duplicate system id", "  - id: mynaportal", "  - id: info-network  # again", "# again",
     "systems[1].id", "duplicate system id"),
    ("duplicate key", "            confirm: 2\n", "            confirm: 2\n            confirm: 3\n",
     "confirm: 3", "systems[0].services[0].checks[0].confirm", "duplicate key 'confirm'"),
    ("bad id", "      - id: batch", "      - id: Batch_1", "id: Batch_1",
     "systems[0].services[1].id", "lower-case"),
    ("hour out of range", '"08:30-21:00"', '"08:30-25:00"', "hours:",
     "systems[0].services[0].hours.mon-fri", "not a time of day"),
    ("range over midnight", '"08:30-21:00"', '"22:00-06:00"', "hours:",
     "systems[0].services[0].hours.mon-fri", "cross midnight"),
    ("unknown day", "mon-fri:", "mon-fry:", "hours:",
     "systems[0].services[0].hours.mon-fry", "not a day"),
    ("day given twice", "sat: [", "fri: [", "hours:",
     "systems[0].services[0].hours.fri", "repeats a day"),
    ("unquoted time", '"13:00-17:00"]', "13:00]", "hours:",
     "systems[0].services[0].hours.sat[1]", "quoted range"),
    ("block hours value", 'hours: {mon-fri: "08:30-21:00", sat: ["09:00-12:00", "13:00-17:00"]}',
     'hours:\n          mon-fri: "08:30-21:00"\n          sat: "09:00-33:00"', '"09:00-33:00"',
     "systems[0].services[0].hours.sat", "not a time of day"),
    ("bad dates_off", '"05-03"', '"02-30"', "dates_off:",
     "systems[0].services[0].dates_off[1]", "not a day of the year"),
    ("dates_off not MM-DD", '"12-29..01-03"', '"Dec 29"', "dates_off:",
     "systems[0].services[0].dates_off[0]", "MM-DD"),
    ("bad timezone", "timezone: Asia/Tokyo", "timezone: Asia/Tokio", "timezone:",
     "timezone", "IANA"),
    ("timezone directory", "timezone: Asia/Tokyo", "timezone: Asia", "timezone:",
     "timezone", "IANA"),
    ("bad unknown_policy", "unknown_policy: exclude", "unknown_policy: maybe", "unknown_policy:",
     "unknown_policy", "'exclude', 'up' or 'down'"),
    ("missing url",
     "          - id: http\n            type: http\n"
     "            url: http://127.0.0.1:8081/info-network/main/health\n",
     "          - id: http  # no url\n            type: http\n", "# no url",
     "systems[0].services[0].checks[0].url", "missing required key 'url'"),
    ("missing interval", "            interval: 1h\n", "", "          - id: cert",
     "systems[0].services[1].checks[1].interval", "missing required key 'interval'"),
    ("missing name", "    name: {ja: マイナポータル, en: Mynaportal}\n", "", "  - id: mynaportal",
     "systems[1].name", "missing required key 'name'"),
    ("missing english name", "{ja: 主要業務, en: Core operations}", "{ja: 主要業務}", "主要業務",
     "systems[0].services[0].name.en", "missing required key 'en'"),
    ("missing check type", "            type: tcp\n", "", "          - id: db",
     "systems[0].services[1].checks[0].type", "missing required key 'type'"),
    ("unknown check type", "type: tcp", "type: icmp", "type: icmp",
     "systems[0].services[1].checks[0].type", "one of http, tcp, tls"),
    ("wrong type int", "quorum: 1", "quorum: many", "quorum: many",
     "systems[0].services[0].quorum", "valid integer"),
    ("wrong type bool", "core: false", "core: [false]", "core: [false]",
     "systems[0].services[1].core", "valid boolean"),
    ("wrong type tuple", "expected_status: 204", 'expected_status: "204"', "expected_status:",
     "systems[1].services[0].checks[0].expected_status", "valid tuple"),
    ("wrong type name", "    name: {ja: マイナポータル, en: Mynaportal}", "    name: Mynaportal",
     "name: Mynaportal", "systems[1].name", "{ja: ..., en: ...}"),
    ("quorum zero", "quorum: 1", "quorum: 0", "quorum: 0",
     "systems[0].services[0].quorum", "greater than or equal to 1"),
    ("confirm zero", "confirm: 2", "confirm: 0", "confirm: 0",
     "systems[0].services[0].checks[0].confirm", "greater than or equal to 1"),
    ("timeout not below interval", "timeout: 10s\n            confirm",
     "timeout: 90s\n            confirm", "timeout: 90s",
     "systems[0].services[0].checks[0].timeout", "shorter than the interval"),
    ("stale_after below interval", "stale_after: 10m", "stale_after: 30s", "stale_after: 30s",
     "systems[0].services[1].checks[0].stale_after", "at least the interval"),
    ("retry_interval above interval", "stale_after: 10m", "retry_interval: 2m",
     "retry_interval: 2m", "systems[0].services[1].checks[0].retry_interval",
     "must not be longer than the interval"),
    ("url scheme", "url: https://example.org/records", "url: ftp://example.org/records",
     "ftp://", "systems[1].services[0].checks[0].url", "http:// or https://"),
    ("port range", "port: 5432", "port: 70000", "port: 70000",
     "systems[0].services[1].checks[0].port", "65535"),
    ("status range", "expected_status: 204", "expected_status: [200, 999]", "expected_status:",
     "systems[1].services[0].checks[0].expected_status[1]", "599"),
    ("yaml syntax", "    target: 0.999\n    recovery_target: 8h",
     "    target: [0.999\n    recovery_target: 8h", "recovery_target: 8h", None, "invalid YAML"),
    ("yaml tab", "    recovery_target: 8h", "\trecovery_target: 8h", "recovery_target: 8h",
     None, "invalid YAML"),
]
# fmt: on


@pytest.mark.parametrize(
    ("old", "new", "line_fragment", "field", "message_part"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_error_names_line_and_field(
    old: str, new: str, line_fragment: str, field: str | None, message_part: str
) -> None:
    text = replace_once(BASE, old, new)
    error = load_error(text)
    assert error.file == "catalog.yaml"
    assert error.line == line_of(text, line_fragment)
    if field is not None:
        assert error.field == field
    assert message_part in error.message
    rendered = str(error)
    assert "\n" not in rendered
    prefix = f"catalog.yaml:{error.line}: " + (f"{error.field}: " if error.field else "")
    assert rendered == prefix + error.message


def test_duplicate_check_id_names_the_second_occurrence() -> None:
    error = load_error(replace_once(BASE, "          - id: cert", "          - id: db"))
    assert error.field == "systems[0].services[1].checks[1].id"
    first_line = line_of(BASE, "          - id: db")
    assert f"first used at line {first_line}" in error.message


def test_empty_and_non_mapping_documents() -> None:
    assert "empty" in load_error("").message
    assert "empty" in load_error("# only a comment\n").message
    error = load_error("- a\n- b\n")
    assert (error.line, error.field) == (1, None)
    assert "mapping" in error.message
    error = load_error("timezone: UTC\n")
    assert error.field == "systems"
    assert "missing required key 'systems'" in error.message


def test_a_mapping_where_a_list_is_expected() -> None:
    error = load_error("timezone: UTC\nsystems:\n  id: info-network\n")
    assert (error.line, error.field) == (3, "systems")
    assert "expected a list of systems, got a mapping" in error.message


def test_unknown_top_level_key_lists_the_allowed_ones() -> None:
    error = load_error("timezone: UTC\nsystem: []\n")
    assert (error.line, error.field) == (2, "system")
    assert "timezone, unknown_policy, systems" in error.message


def test_a_recursive_alias_is_refused_not_followed() -> None:
    error = load_error("x-loop: &loop [*loop]\n" + BASE)
    assert error.line == 1
    assert "alias" in error.message


def test_str_without_line_or_field() -> None:
    error = CatalogError("catalog.yaml", None, None, "cannot read\nthe file")
    assert str(error) == "catalog.yaml: cannot read the file"


def test_an_error_in_a_merged_value_names_the_line_where_it_is_written() -> None:
    text = "x-probe: &probe {type: http, interval: 20s, timeout: 5x}\n" + replace_once(
        BASE,
        "            type: http\n            url: http://127.0.0.1:8081/info-network/main/health\n"
        "            interval: 60s\n            timeout: 10s\n",
        "            <<: *probe\n            url: http://127.0.0.1:8081/x\n",
    )
    error = load_error(text)
    assert (error.line, error.field) == (1, "systems[0].services[0].checks[0].timeout")
    # A key written in the check itself keeps its own line.
    text = text.replace("            url: http://127.0.0.1:8081/x\n", "            timeout: 5y\n")
    error = load_error(text)
    assert error.line == line_of(text, "timeout: 5y")


def test_retry_interval_is_read_and_never_above_the_interval() -> None:
    catalog = parse_catalog(replace_once(BASE, "stale_after: 10m", "retry_interval: 15s"), "c")
    assert catalog.service("info-network", "batch").checks[0].retry_interval_ms == 15_000
    # Shorter intervals than the 5 s default: the default follows the interval.
    fast = replace_once(
        BASE,
        "            interval: 1m\n            timeout: 5s",
        "            interval: 3s\n            timeout: 1s",
    )
    assert (
        parse_catalog(fast, "c").service("info-network", "batch").checks[0].retry_interval_ms
        == 3_000
    )
