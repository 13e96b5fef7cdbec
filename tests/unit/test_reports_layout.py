"""What the monthly report prints, and where it may break pages."""

from __future__ import annotations

import re

from report_samples import monthly_document

from app.reports.html_format import render_monthly_html


def _cards(html: str) -> list[str]:
    return re.findall(r'<div class="card (?:system|service)"[^>]*data-scope="([^"]+)"', html)


def test_a_system_with_one_service_prints_once() -> None:
    document = monthly_document()
    html = render_monthly_html(document, "ja", for_print=True)
    several = {s["system"] for s in document["services"]} - {
        system
        for system in {s["system"] for s in document["services"]}
        if sum(1 for s in document["services"] if s["system"] == system) == 1
    }
    expected = [s["system"] for s in document["systems"]] + [
        f"{s['system']}/{s['service']}" for s in document["services"] if s["system"] in several
    ]
    assert sorted(_cards(html)) == sorted(expected)
    assert several == {"mynaportal"}
    # The sole service is still named, under its system.
    start = html.index('data-scope="card-management"')
    card = html[start : html.index('<table class="stats">', start)]
    assert "カード発行・管理" in card and "card-management/main" in card


def test_a_sole_service_with_its_own_figures_keeps_its_card() -> None:
    document = monthly_document()
    sole = next(s for s in document["services"] if s["system"] == "jpki")
    sole["target"], sole["target_display"] = 0.9999, "99.99%"
    cards = _cards(render_monthly_html(document, "en", for_print=True))
    assert "jpki/main" in cards and "jpki" in cards


def test_no_chart_heading_without_its_chart() -> None:
    html = render_monthly_html(monthly_document(), "ja", for_print=True)
    # The strip legend is titled as a legend, not as a chart the page then lacks.
    summary = html[html.index('<section class="summary">') : html.index("</section>")]
    assert "月間稼働状況:" not in summary and "凡例" in summary
    # Every chart title sits in one unbreakable block with its chart.
    titles = re.findall(r'<p class="chart-title">', html)
    blocks = re.findall(
        r'<div class="chart-block">\s*<p class="chart-title">[^<]*</p>\s*<svg', html
    )
    assert titles and len(blocks) == len(titles)
    css = html[html.index("<style>") : html.index("</style>")]
    assert re.search(r"\.chart-block[^{]*\{[^}]*break-inside:\s*avoid", css)
    # Each system starts a page: its heading is never left at the foot of the one before.
    assert re.search(r"section\.system[^{]*\{[^}]*break-before:\s*page", css)
