"""HTML reports read back with the standard library's HTML parser."""

from __future__ import annotations

from collections import Counter, defaultdict
from html.parser import HTMLParser
from typing import Any

import pytest
from report_samples import fiscal_year_document, monthly_document

from app.reports.charts import daily_bars
from app.reports.document import MonthlyReportDocument
from app.reports.labels import label
from app.reports.render import render_fiscal_year, render_monthly


class ReportParser(HTMLParser):
    """Collects the text inside each ``data-scope`` element, the tags seen, and any
    attribute that would load something from outside the page."""

    def __init__(self) -> None:
        super().__init__()
        self.text_by_scope: dict[str, list[str]] = defaultdict(list)
        self.all_text: list[str] = []
        self.tags: Counter[str] = Counter()
        self.classes: Counter[str] = Counter()
        self.external: list[str] = []
        self.svg_classes: list[str] = []
        self._scopes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags[tag] += 1
        for name in (attributes.get("class") or "").split():
            self.classes[name] += 1
        if tag == "svg":
            self.svg_classes.append(attributes.get("class") or "")
        for name in ("src", "href"):
            value = attributes.get(name) or ""
            if value and not value.startswith("#"):
                self.external.append(f"{tag} {name}={value}")
        if tag in ("link", "script", "iframe", "object", "img"):
            self.external.append(tag)
        if tag in ("div", "tr"):
            # Every div and tr is tracked, so that a nested div does not end its card.
            self._scopes.append((tag, attributes.get("data-scope") or ""))

    def handle_endtag(self, tag: str) -> None:
        if self._scopes and self._scopes[-1][0] == tag:
            self._scopes.pop()

    def handle_data(self, data: str) -> None:
        self.all_text.append(data)
        for _, scope in self._scopes:
            if scope:
                self.text_by_scope[scope].append(data)

    def scope_text(self, scope: str) -> str:
        return " ".join(" ".join(self.text_by_scope[scope]).split())

    def text(self) -> str:
        return " ".join(" ".join(self.all_text).split())


def _parse(payload: bytes) -> ReportParser:
    parser = ReportParser()
    parser.feed(payload.decode("utf-8"))
    parser.close()
    return parser


@pytest.fixture(scope="module")
def document() -> MonthlyReportDocument:
    return monthly_document()


def _printed(document: MonthlyReportDocument) -> list[tuple[Any, str]]:
    """(figures, card scope) of each card: every system, and the services of systems with
    more than one (a sole service with its system's figures is shown on the system's card,
    which the sample's systems all are)."""
    services_per_system = Counter(s["system"] for s in document["services"])
    return [
        *((s, s["system"]) for s in document["systems"]),
        *(
            (s, f"{s['system']}/{s['service']}")
            for s in document["services"]
            if services_per_system[s["system"]] > 1
        ),
    ]


@pytest.fixture(scope="module")
def ja_page(document: MonthlyReportDocument) -> ReportParser:
    return _parse(render_monthly(document, "html", "ja"))


def test_self_contained(ja_page: ReportParser) -> None:
    assert ja_page.external == []
    assert ja_page.tags["style"] == 1


def test_each_card_shows_its_numbers(
    document: MonthlyReportDocument, ja_page: ReportParser
) -> None:
    for figures, scope in _printed(document):
        text = ja_page.scope_text(scope)
        assert str(figures["availability_display"]) in text, scope
        assert figures["target_display"] in text, scope
        assert f"{figures['scheduled_seconds']:,} 秒" in text, scope
        assert f"{figures['downtime_seconds']:,} 秒" in text, scope
        assert (label("met", "ja") if figures["met"] else label("missed", "ja")) in text
        assert (label("insufficient_data", "ja") in text) == figures["insufficient_data"], scope
        if figures["incidents"]:
            assert label("incident_start", "ja") in text
            assert text.count(label("recovery_met", "ja")) >= sum(
                1 for incident in figures["incidents"] if incident["recovery_met"]
            )
        else:
            assert label("no_incidents", "ja") in text


def test_summary_names_who_met(document: MonthlyReportDocument, ja_page: ReportParser) -> None:
    met = sum(1 for system in document["systems"] if system["met"])
    assert f"{len(document['systems'])}システム中{met}システムが目標を達成しました。" in (
        ja_page.text()
    )
    # The summary table row of each system (a <tr data-scope>) carries its result.
    for system in document["systems"]:
        text = ja_page.scope_text(system["system"])
        assert system["name"]["ja"] in text


def test_charts(document: MonthlyReportDocument, ja_page: ReportParser) -> None:
    strips = [c for c in ja_page.svg_classes if "strip" in c]
    dailies = [c for c in ja_page.svg_classes if "daily" in c]
    printed = [figures for figures, _ in _printed(document)]
    assert len(strips) == sum(1 for s in printed if s.get("strip"))
    assert len(dailies) == len(printed)
    # Every non-up run of every strip is drawn, up is the background.
    for state in ("down", "unknown", "excluded"):
        runs = sum(1 for s in printed for run in s.get("strip", []) if run["state"] == state)
        assert ja_page.classes[f"run-{state}"] == runs, state
        assert ja_page.classes[f"key-{state}"] == 1, state
    daily = [day for scope in printed for day in scope["daily"]]
    without_data = sum(1 for day in daily if day["availability"] is None)
    assert without_data > 0, "the sample should have a day without data"
    assert ja_page.classes["bar-unknown"] == without_data
    assert ja_page.classes["bar-up"] + ja_page.classes["bar-down"] == len(daily) - without_data
    assert "稼働" in ja_page.text() and "データ欠測" in ja_page.text()


def test_exclusions_and_footer(document: MonthlyReportDocument, ja_page: ReportParser) -> None:
    text = ja_page.text()
    for window in document["exclusions"]:
        assert window["reason"] in text
        assert window["created_by"] in text
    assert document["catalog_sha256"] in text
    assert document["generated_at"] in text
    assert document["data_cutoff"] in text
    assert "除外期間" in text and "許容停止時間" in text


def test_english_page_has_english_labels(document: MonthlyReportDocument) -> None:
    text = _parse(render_monthly(document, "html", "en")).text()
    assert "Monthly availability report" in text and "Error budget" in text
    assert "稼働率" not in text
    assert "Information Provision Network (core)" in text


def test_fiscal_year_page() -> None:
    document = fiscal_year_document(2026)
    page = _parse(render_fiscal_year(document, "html", "ja"))
    text = page.text()
    assert "令和8年度" in text
    assert "2026年（令和8年）" in text and "2027年（令和9年）" in text
    for row in document["rows"]:
        scope = row["system"] if row["service"] is None else f"{row['system']}/{row['service']}"
        cells = page.scope_text(scope)
        displays = [row["availability_display"]] + [
            m["availability_display"] for m in row["months"]
        ]
        positions = [cells.find(str(display)) for display in displays]
        assert all(position >= 0 for position in positions), (scope, cells)
        assert row["target_display"] in cells


def test_daily_chart_axis_starts_ten_budgets_below_full() -> None:
    days = [{"date": f"2026-10-{day:02d}", "availability": 1.0} for day in range(1, 31)]
    svg = str(daily_bars(days, 0.9999, "99.99%", "t", "en"))  # type: ignore[arg-type]
    assert ">99.9%<" in svg and ">100%<" in svg and "Target 99.99%" in svg
    days[4]["availability"] = 0.965
    svg = str(daily_bars(days, 0.999, "99.9%", "t", "en"))  # type: ignore[arg-type]
    assert ">96%<" in svg and svg.count('class="bar-down"') == 1
