"""Building a report from the store: the one path the CLI, the API and the export share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from app.catalog.model import Catalog
from app.evaluation import evaluate_period, fiscal_year_document, report_document
from app.months import closed_document, fiscal_year_with_closed_months
from app.reports.render import content_type, file_name, render_fiscal_year, render_monthly
from app.sla import periods

ReportKind = Literal["monthly", "fiscal_year"]


@dataclass(frozen=True)
class RenderedReport:
    body: bytes
    file_name: str
    content_type: str
    document: dict[str, Any]


def monthly_document(
    session: Session, catalog: Catalog, period: periods.Period, *, now: datetime | None = None
) -> dict[str, Any]:
    """The month's report: a closed month's latest version as frozen (SLA-SEMANTICS §9),
    an open month's computed from the store."""
    closed = closed_document(session, period.label) if period.kind == "month" else None
    if closed is not None:
        return closed
    result = evaluate_period(session, catalog, period, now=now)
    return report_document(catalog, result, pictures=True)


def build_report(
    session: Session,
    catalog: Catalog,
    *,
    kind: ReportKind,
    label: str,
    fmt: str,
    lang: str,
    timezone: str,
    now: datetime | None = None,
) -> RenderedReport:
    """Render the monthly report of ``label`` ("2026-10") or the fiscal year ("2026")."""
    if kind == "monthly":
        document = monthly_document(session, catalog, periods.parse_month(label, timezone), now=now)
        body = render_monthly(document, fmt, lang)
    else:
        year = periods.parse_fiscal_year(label, timezone).start().year
        # Closed months as frozen (their latest versions), the year consistent with them.
        document = fiscal_year_with_closed_months(
            session, fiscal_year_document(session, catalog, year, timezone, now=now)
        )
        body = render_fiscal_year(document, fmt, lang)
    return RenderedReport(body, file_name(document, fmt, lang), content_type(fmt), document)
