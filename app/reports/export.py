"""The scheduled export: last month's reports, written once after the month closes.

Run :func:`export_due_reports` periodically (the server does it every minute). It writes
the previous month's reports once the configured moment (default the 1st, 00:10 in the
reporting time zone) has passed and records them in ``report_exports``, so a restart
neither skips nor repeats a month, and several replicas sharing a database write it once.
Files appear atomically: each is written to a temporary name, flushed, then renamed.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from app.catalog.model import Catalog
from app.evidence_files import refresh_amended_bundles
from app.months import close_month, closed_document
from app.reports.render import FORMATS, file_name, render_monthly
from app.reports.service import monthly_document
from app.sla import periods
from app.store.exports import export_recorded, record_export
from app.store.locks import once_only

log = logging.getLogger("kadou.reports")


@dataclass(frozen=True)
class ExportPlan:
    directory: Path
    formats: tuple[str, ...]
    languages: tuple[str, ...]
    day: int = 1
    at: time = time(0, 10)

    @classmethod
    def from_settings(
        cls, directory: Path, formats: str, languages: str, day: int, at: str
    ) -> ExportPlan:
        chosen = tuple(f.strip() for f in formats.split(",") if f.strip())
        for fmt in chosen:
            if fmt not in FORMATS:
                raise ValueError(
                    f"KADOU_REPORT_FORMATS: unknown format {fmt!r}; use some of {', '.join(FORMATS)}"
                )
        langs = tuple(lang.strip() for lang in languages.split(",") if lang.strip())
        for lang in langs:
            if lang not in ("ja", "en"):
                raise ValueError(f"KADOU_REPORT_LANGUAGES: unknown language {lang!r}; use ja, en")
        hour, minute = (int(part) for part in at.split(":"))
        return cls(directory, chosen, langs, day, time(hour, minute))


def due_month(now: datetime, plan: ExportPlan, timezone: str) -> periods.Period | None:
    """The month whose export is due at ``now``, or None before the export moment."""
    local = now.astimezone(ZoneInfo(timezone))
    moment = datetime.combine(local.date().replace(day=plan.day), plan.at, tzinfo=local.tzinfo)
    if local < moment:
        return None
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return periods.month(year, month, timezone)


def _write_atomically(path: Path, body: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(body)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_due_reports(
    sessions: sessionmaker[Session],
    catalog: Catalog,
    timezone: str,
    plan: ExportPlan,
    *,
    now: datetime | None = None,
) -> list[Path]:
    """Write the due month's reports if not written yet; returns the files written."""
    now = now or datetime.now(UTC)
    period = due_month(now, plan, timezone)
    if period is None:
        return []
    # Exporting closes the month (SLA-SEMANTICS §9); while the export of a month is due,
    # each run also amends it if its inputs changed since, and writes the new version's
    # files beside the earlier ones.
    made = close_month(sessions, catalog, period, actor="scheduled-export", now=now)
    with sessions() as session:
        recorded = export_recorded(session, period.label)
        document = closed_document(session, period.label) or monthly_document(
            session, catalog, period, now=now
        )
    if recorded and (made is None or made.version == 1):
        log.debug("the %s reports are already exported", period.label)
        return []
    plan.directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in plan.formats:
        for lang in plan.languages if fmt != "json" else plan.languages[:1]:
            path = plan.directory / file_name(document, fmt, lang)
            _write_atomically(path, render_monthly(document, fmt, lang))
            written.append(path)
    if recorded:
        # A month pruned already (short retention) keeps its evidence current too.
        written += refresh_amended_bundles(
            sessions, catalog, timezone, plan.directory, [period.label]
        )
        log.info(
            "%s amended to version %s; wrote %s",
            period.label,
            document.get("version"),
            ", ".join(p.name for p in written),
        )
        return written
    if not record_export(sessions, period.label, now, [p.name for p in written]):
        # Another replica recorded the same month first; its files are identical.
        log.info("report export for %s was recorded by another process", period.label)
        return written
    log.info(
        "exported the %s reports to %s: %s",
        period.label,
        plan.directory,
        ", ".join(p.name for p in written),
    )
    return written


def export_due_reports_once(
    sessions: sessionmaker[Session],
    catalog: Catalog,
    timezone: str,
    plan: ExportPlan,
    *,
    now: datetime | None = None,
) -> list[Path]:
    """:func:`export_due_reports` in one replica at a time (what ``kadou serve`` runs).

    Every replica runs the schedule; the one that holds the claim does the month's work
    and records it before letting go, so another that claims it later finds the month
    recorded and does nothing. A replica that cannot claim it skips this round.
    """
    with once_only(sessions, "scheduled-report-export") as claimed:
        if not claimed:
            log.debug("the scheduled export is running in another process")
            return []
        return export_due_reports(sessions, catalog, timezone, plan, now=now)
