"""Japanese and English words for every heading, column and value in the reports.

A small dict catalog rather than gettext/Babel: the reports have a few dozen fixed labels,
both languages are always shipped, and a missing label must fail loudly in tests (a
``KeyError``), not fall back silently to English in a Japanese PDF.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.reports.document import LocalizedText, reiwa_year

# The formatters live in ``formats``; re-exported here for the pages, which reach them
# through this module.
from app.reports.formats import (
    Lang,
    display_ratio,
    format_duration,
    format_percent,
    format_seconds,
    percent_decimals,
    truncate_ratio,
)

__all__ = [
    "LANGS",
    "Lang",
    "display_ratio",
    "format_duration",
    "format_percent",
    "format_seconds",
    "percent_decimals",
    "truncate_ratio",
]

LANGS: tuple[Lang, ...] = ("ja", "en")

_LABELS: dict[str, tuple[str, str]] = {
    # key: (ja, en)
    "report_title_monthly": ("月次稼働率報告", "Monthly availability report"),
    "report_title_fiscal_year": ("年度稼働率報告", "Fiscal-year availability report"),
    "period": ("対象期間", "Period"),
    "timezone": ("タイムゾーン", "Time zone"),
    "unknown_policy": ("データ欠測の扱い", "Unknown-time policy"),
    "generated_at": ("作成日時", "Generated at"),
    "data_cutoff": ("データ締め日時", "Data cut-off"),
    "catalog_sha256": ("カタログハッシュ (SHA-256)", "Catalog hash (SHA-256)"),
    "catalog_source": ("カタログ", "Catalog"),
    "summary": ("概要", "Summary"),
    "summary_met_count": (
        "{total}システム中{met}システムが目標を達成しました。",
        "{met} of {total} systems met their target.",
    ),
    "summary_missed": ("目標未達のシステム", "Systems that missed their target"),
    "summary_no_data": ("稼働率を算出できないシステム", "Systems without an availability figure"),
    "level": ("区分", "Level"),
    "level_system": ("システム", "System"),
    "level_service": ("業務", "Service"),
    "system": ("システム", "System"),
    "system_id": ("システムID", "System ID"),
    "service": ("業務", "Service"),
    "service_id": ("業務ID", "Service ID"),
    "name": ("名称", "Name"),
    "indicator": ("測定指標", "Indicator"),
    "target": ("目標値", "Target"),
    "scheduled": ("予定稼働時間", "Scheduled time"),
    "scheduled_seconds": ("予定稼働時間（秒）", "Scheduled (s)"),
    "excluded_planned": ("計画停止", "Planned stop"),
    "excluded_planned_seconds": ("計画停止（秒）", "Planned stops (s)"),
    "excluded_disaster": ("災害による停止", "Disaster stop"),
    "excluded_disaster_seconds": ("災害による停止（秒）", "Disaster stops (s)"),
    "downtime": ("停止時間", "Downtime"),
    "downtime_seconds": ("停止時間（秒）", "Downtime (s)"),
    "unknown": ("データ欠測", "Unknown (no data)"),
    "unknown_seconds": ("データ欠測（秒）", "Unknown (s)"),
    "coverage": ("データ取得率", "Coverage"),
    "availability": ("稼働率", "Availability"),
    "availability_exact": ("稼働率（比率・切り捨て前）", "Availability (exact ratio)"),
    "fiscal_year_availability": ("年度稼働率", "Fiscal-year availability"),
    "result": ("判定", "Result"),
    "met": ("達成", "met"),
    "missed": ("未達", "missed"),
    "not_applicable": ("—", "—"),
    "error_budget": ("許容停止時間", "Error budget"),
    "error_budget_seconds": ("許容停止時間（秒）", "Error budget (s)"),
    "error_budget_remaining": ("許容停止時間の残り", "Budget remaining"),
    "error_budget_remaining_seconds": ("許容停止時間の残り（秒）", "Budget remaining (s)"),
    "insufficient_data": ("データ不足", "Insufficient data"),
    "missed_insufficient_data": ("未達（データ不足）", "missed (insufficient data)"),
    "insufficient_data_note": (
        "データ取得率が99%未満のため、この稼働率は参考値です。",
        "Coverage is below 99 %: this availability is indicative only.",
    ),
    "recovery_target": ("障害復旧目標時間", "Recovery target"),
    "recovery_target_seconds": ("障害復旧目標時間（秒）", "Recovery target (s)"),
    "incidents": ("障害", "Incidents"),
    "no_incidents": ("障害はありません。", "No incidents."),
    "incident_start": ("発生", "Start"),
    "incident_end": ("復旧", "End"),
    "ongoing": ("継続中", "ongoing"),
    "duration": ("障害時間", "Duration"),
    "duration_seconds": ("障害時間（秒）", "Duration (s)"),
    "downtime_in_period": ("当月の停止時間", "Downtime in period"),
    "downtime_in_period_seconds": ("当月の停止時間（秒）", "Downtime in period (s)"),
    "recovery": ("復旧時間の判定", "Recovery vs target"),
    "recovery_met": ("目標内", "within target"),
    "recovery_breached": ("目標超過", "breached"),
    "exclusions": ("除外期間（計画停止・災害による停止）", "Exclusion windows (planned, disaster)"),
    "no_exclusions": ("除外期間はありません。", "No exclusion windows."),
    "exclusion_id": ("番号", "ID"),
    "scope": ("対象", "Scope"),
    "kind": ("種別", "Kind"),
    "start": ("開始", "Start"),
    "end": ("終了", "End"),
    "reason": ("理由", "Reason"),
    "created_by": ("登録者", "Registered by"),
    "created_at": ("登録日時", "Registered at"),
    "retroactive": ("事後登録", "Retroactive"),
    "yes": ("はい", "yes"),
    "no": ("いいえ", "no"),
    "month_strip": ("月間稼働状況", "Month at a glance"),
    "legend": (
        "凡例（月間稼働状況の色と模様）",
        "Legend (colours and patterns of the month at a glance)",
    ),
    "daily_chart": ("日別稼働率", "Daily availability"),
    "no_data": ("データなし", "no data"),
    "state_up": ("稼働", "up"),
    "state_down": ("停止", "down"),
    "state_unknown": ("データ欠測", "unknown"),
    "state_excluded": ("除外", "excluded"),
    "state_outside_hours": ("運用時間外", "outside hours"),
    "policy_exclude": ("予定稼働時間から除く", "excluded from the denominator"),
    "policy_up": ("稼働とみなす", "counted as up"),
    "policy_down": ("停止とみなす", "counted as down"),
    "systems": ("システム別", "Systems"),
    "services": ("業務別", "Services"),
    "figures": ("稼働実績", "Figures"),
    "page": ("ページ", "Page"),
    "sheet_summary": ("概要", "Summary"),
    "sheet_incidents": ("障害", "Incidents"),
    "sheet_exclusions": ("除外期間", "Exclusions"),
    "sheet_report": ("報告情報", "Report"),
    "sheet_fiscal_year": ("年度", "Fiscal year"),
    "section_report": ("報告情報", "Report"),
    "fiscal_year": ("年度", "Fiscal year"),
    "month_figures": ("月別稼働率", "Monthly availability"),
    "instants_in": ("時刻は{timezone}", "Times in {timezone}"),
    "definition": (
        "稼働率 = 実稼働時間 ÷ 予定稼働時間（計画停止や災害による停止を除く）。"
        "表示は切り捨てです。",
        "Availability = actual operating time ÷ scheduled operating time, excluding planned"
        " stops and stops caused by disasters. Figures are truncated, never rounded up.",
    ),
}

# A window's kind is named as the time it excludes, on pages, forms and in every report
# (the exclusions table once said 災害 where the figures said 災害による停止).
_LABELS["kind_planned"] = _LABELS["excluded_planned"]
_LABELS["kind_disaster"] = _LABELS["excluded_disaster"]

# A closed month's version, in words (SLA-SEMANTICS §9): what the pages and reports say
# about which frozen figures they show, and why a later version exists.
_LABELS.update(
    {
        "version_closed": ("確定 (第{version}版)", "Closed (version {version})"),
        "version_amended": (
            "第{version}版 — {date} 改訂: {reasons}",
            "Version {version} — amended {date}: {reasons}",
        ),
        "version_link": ("第{version}版", "Version {version}"),
        "reason_window_create": ("{kind} #{id} を登録", "{kind} window #{id} registered"),
        "reason_window_create_retroactive": (
            "{kind} #{id} を遡及登録",
            "{kind} window #{id} registered retroactively",
        ),
        "reason_window_update": ("{kind} #{id} を変更", "{kind} window #{id} changed"),
        "reason_window_delete": ("{kind} #{id} を削除", "{kind} window #{id} removed"),
        "reason_timeline": ("タイムラインを再構築", "timeline rebuilt"),
        "reason_late_observations": (
            "遅延した観測 {count} 件 ({locations})",
            "{count} late observations ({locations})",
        ),
        "reason_input_segments": ("遅れて届いた観測を反映", "late observations included"),
        "reason_input_catalog": ("カタログの変更を反映", "catalog change applied"),
        "reason_input_exclusions": ("除外期間の変更を反映", "exclusion windows changed"),
        "window_kind_planned": ("計画停止", "planned"),
        "window_kind_disaster": ("災害による停止", "disaster"),
    }
)


# A service or system the catalog no longer has, still in a period it was part of (§8):
# the same words on the pages and in every report file.
_LABELS["removed_on"] = ("{date} に削除", "removed {date}")


# A fiscal year's closed month names the version its figures are (§9); an open month or a
# closed one whose target differs from the year's shows its own (§8).
_LABELS["version_short"] = ("第{version}版", "v{version}")
_LABELS["month_target"] = ("目標 {target}", "target {target}")


def month_version_text(month: Mapping[str, Any], lang: Lang) -> str | None:
    """ "第2版" / "v2" for a fiscal-year month shown from a closed month's version."""
    version = month.get("version")
    return None if version is None else label("version_short", lang).format(version=version)


def removed_text(removed_at: str, lang: Lang) -> str:
    """ "2026-10-11 に削除" / "removed 2026-10-11": ``removed_at`` is an ISO instant in the
    period's time zone (a document's ``"removed_at"``), so its date is the local one."""
    return label("removed_on", lang).format(date=removed_at[:10])


def name_text(name: LocalizedText, removed_at: str | None, lang: Lang) -> str:
    """A row's name in ``lang``, marked when it left the catalog during the period."""
    text = pick(name, lang)
    return text if not removed_at else f"{text} ({removed_text(removed_at, lang)})"


def _reason_words(reason: dict[str, Any], lang: Lang) -> str:
    window = reason.get("window")
    if reason.get("entity") == "exclusion" and isinstance(window, dict):
        kind = str(window.get("kind"))
        kind_words = label(f"window_kind_{kind}", lang) if kind in ("planned", "disaster") else kind
        action = str(reason.get("action"))
        if action not in ("create", "update", "delete"):
            action = "update"
        key = f"reason_window_{action}"
        if action == "create" and window.get("retroactive"):
            key += "_retroactive"
        return label(key, lang).format(kind=kind_words, id=reason.get("entity_id"))
    late = reason.get("late_observations")
    if reason.get("entity") == "observations" and isinstance(late, dict):
        return label("reason_late_observations", lang).format(
            count=late.get("count"), locations=", ".join(late.get("locations") or [])
        )
    return label("reason_timeline", lang)


def version_caption(summary: Mapping[str, Any] | None, lang: Lang) -> str | None:
    """ "第2版 — 2026-11-15 改訂: 災害による停止 #12 を遡及登録", "Closed (version 1)";
    None for a month that is still open. ``summary`` is ``app.months.version_summary``."""
    if summary is None:
        return None
    version = int(summary["version"])
    if version <= 1:
        return label("version_closed", lang).format(version=version)
    reasons = [_reason_words(reason, lang) for reason in summary.get("reasons", [])]
    if not reasons:
        # No audited change (late observations, a catalog version): say which input moved.
        reasons = [
            label(f"reason_input_{name}", lang)
            for name in summary.get("changed_inputs", [])
            if f"reason_input_{name}" in _LABELS
        ]
    separator = "、" if lang == "ja" else "; "
    return label("version_amended", lang).format(
        version=version,
        date=str(summary["closed_at"])[:10],
        reasons=separator.join(dict.fromkeys(reasons)),
    )


def label(key: str, lang: Lang) -> str:
    ja, en = _LABELS[key]
    return ja if lang == "ja" else en


def label_keys() -> frozenset[str]:
    return frozenset(_LABELS)


def check_lang(lang: str) -> Lang:
    if lang == "ja":
        return "ja"
    if lang == "en":
        return "en"
    raise ValueError(f"unknown report language {lang!r}; use 'ja' or 'en'")


def pick(text: LocalizedText, lang: Lang) -> str:
    return text["ja"] if lang == "ja" else text["en"]


def met_text(met: bool | None, lang: Lang) -> str:
    if met is None:
        return label("not_applicable", lang)
    return label("met" if met else "missed", lang)


def assessed_text(met: bool | None, insufficient_data: bool | None, lang: Lang) -> str:
    """The result of a period that may lack data, for a cell with no room for a flag.

    With coverage below 99 % a "met" is not established (a year observed 24 % of the
    time is not 達成), so it reads "insufficient data"; a miss stays a miss, since the
    downtime seen already exceeds the budget, and says the data was thin too.
    """
    if not insufficient_data:
        return met_text(met, lang)
    return label("missed_insufficient_data" if met is False else "insufficient_data", lang)


def recovery_text(recovery_met: bool | None, lang: Lang) -> str:
    if recovery_met is None:
        return label("not_applicable", lang)
    return label("recovery_met" if recovery_met else "recovery_breached", lang)


def yes_no(value: bool, lang: Lang) -> str:
    return label("yes" if value else "no", lang)


def kind_text(kind: str, lang: Lang) -> str:
    return label(f"kind_{kind}", lang)


def policy_text(policy: str, lang: Lang) -> str:
    return label(f"policy_{policy}", lang)


def state_text(state: str, lang: Lang) -> str:
    return label(f"state_{state}", lang)


def fiscal_year_title(fiscal_year: int, lang: Lang) -> str:
    """令和8年度 in Japanese (the policy sheet's way), FY2026 in English."""
    if lang == "ja":
        return f"令和{reiwa_year(fiscal_year)}年度"
    return f"FY{fiscal_year}"


def month_heading(month_label: str, lang: Lang) -> str:
    """Column heading for "2026-04": "4月" in Japanese, "Apr 2026" in English."""
    year_text, month_text = month_label.split("-")
    month = int(month_text)
    if lang == "ja":
        return f"{month}月"
    return datetime(int(year_text), month, 1).strftime("%b %Y")


def period_heading(period_label: str, lang: Lang) -> str:
    """ "2026-10" as 2026年10月 (令和8年10月) or October 2026."""
    year_text, month_text = period_label.split("-")
    year, month = int(year_text), int(month_text)
    if lang == "ja":
        return f"{year}年{month}月（令和{reiwa_year(year)}年{month}月）"
    return datetime(year, month, 1).strftime("%B %Y")


def parse_instant(iso: str) -> datetime:
    instant = datetime.fromisoformat(iso)
    if instant.tzinfo is None:
        raise ValueError(f"instant {iso!r} has no UTC offset; reports need aware instants")
    return instant


def local_instant(iso: str, timezone: ZoneInfo) -> datetime:
    """The instant in the reporting time zone, as a naive datetime (Excel has no offsets)."""
    return parse_instant(iso).astimezone(timezone).replace(tzinfo=None)


def format_instant(iso: str | None, timezone: ZoneInfo, lang: Lang) -> str:
    if iso is None:
        return label("ongoing", lang)
    return parse_instant(iso).astimezone(timezone).strftime("%Y-%m-%d %H:%M:%S")
