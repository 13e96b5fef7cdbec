"""Japanese and English words for the pages.

The reports' labels (``app.reports.labels``) are reused for every term they already
define (availability, error budget, incident, planned stop...), so a page and the PDF of
the same month use the same words; the page-only words live here. A missing key raises
``KeyError`` so a test catches it instead of a page silently mixing languages.
"""

from __future__ import annotations

from app.reports import labels as report_labels
from app.reports.labels import Lang

COOKIE = "kadou_lang"
DEFAULT_LANG: Lang = "ja"

_PAGE_LABELS: dict[str, tuple[str, str]] = {
    # key: (ja, en)
    "app_name": ("Kadou 稼働監視", "Kadou availability monitor"),
    "skip_to_content": ("本文へ移動", "Skip to content"),
    "nav_overview": ("概況", "Overview"),
    "nav_incidents": ("障害", "Incidents"),
    "nav_exclusions": ("除外期間", "Exclusions"),
    "nav_reports": ("報告書", "Reports"),
    "nav_audit": ("監査ログ", "Audit log"),
    "nav_status": ("公開ステータス", "Public status"),
    "language": ("言語", "Language"),
    "sign_in": ("サインイン", "Sign in"),
    "sign_out": ("サインアウト", "Sign out"),
    "signed_in_as": ("サインイン中: {name}（{role}）", "Signed in as {name} ({role})"),
    "anonymous": ("公開閲覧", "Public read-only"),
    "role_viewer": ("閲覧者", "viewer"),
    "role_operator": ("運用者", "operator"),
    "role_admin": ("管理者", "admin"),
    "role_prober": ("プローブ", "prober"),
    "token": ("APIトークン", "API token"),
    "token_help": (
        "`kadou token create` で発行したトークンを入力してください。",
        "Paste a token made with `kadou token create`.",
    ),
    "login_title": ("トークンでサインイン", "Sign in with a token"),
    "login_refused": (
        "このトークンは無効か失効しています。",
        "This token is unknown or revoked.",
    ),
    "login_throttled": (
        "サインインの失敗が続いたため、{seconds}秒後にもう一度お試しください。",
        "Too many refused sign-ins from this address; try again in {seconds} s.",
    ),
    "login_prober": (
        "プローブ用トークンではページを閲覧できません。",
        "A prober token cannot read the pages.",
    ),
    "login_needed": (
        "このページを見るにはサインインが必要です。",
        "Sign in to see this page.",
    ),
    "csrf_failed": (
        "フォームの有効期限が切れました。ページを再読み込みしてやり直してください。",
        "The form expired. Reload the page and try again.",
    ),
    "forbidden": ("この操作を行う権限がありません。", "You are not allowed to do this."),
    "not_found": ("見つかりません", "Not found"),
    "overview_title": ("稼働状況の概況", "Availability overview"),
    "month_to_date": ("当月（{month}）の{now}までの実績", "Month to date ({month}), up to {now}"),
    "auto_refresh": ("{seconds}秒ごとに自動更新", "Refreshes every {seconds} s"),
    "last_updated": ("最終更新", "Last updated"),
    "current_state": ("現在の状態", "Current state"),
    "rag_green": ("正常", "OK"),
    "rag_amber": ("注意", "Warning"),
    "rag_red": ("異常", "Problem"),
    "rag_why_down": ("停止中", "down now"),
    "rag_why_missed": ("目標未達", "target missed"),
    "rag_why_budget_spent": ("許容停止時間を超過", "error budget spent"),
    "rag_why_budget_low": ("許容停止時間の残りわずか", "error budget low"),
    "rag_why_unknown": ("状態不明", "state unknown"),
    "rag_why_insufficient": ("データ不足", "insufficient data"),
    "state_now_up": ("稼働中", "up"),
    "state_now_down": ("停止中", "down"),
    "state_now_unknown": ("不明", "unknown"),
    "budget_left": ("残り {percent}", "{percent} left"),
    "budget_of": ("{remaining} / {budget}", "{remaining} of {budget}"),
    "open_incidents": ("継続中の障害", "Open incidents"),
    "no_open_incidents": ("継続中の障害はありません", "No open incidents"),
    "active_exclusions": ("適用中の除外期間", "Active exclusions"),
    "no_active_exclusions": ("適用中の除外期間はありません", "No active exclusions"),
    "since": ("{start} から", "since {start}"),
    "until": ("{end} まで", "until {end}"),
    "details": ("詳細", "Details"),
    "month_in_future": ("まだ始まっていない月です", "that month has not started yet"),
    "month_closed": ("{month}の実績（確定）", "{month}, closed"),
    # A month that has ended but has not been closed (§9): its figures can still change.
    "month_ended": ("{month}の実績（未確定）", "{month}, ended, not closed"),
    "previous_month_figure": ("前月（{month}）", "Previous month ({month})"),
    "this_month": ("当月", "This month"),
    "month_picker": ("対象月", "Month"),
    "show": ("表示", "Show"),
    "previous_month": ("前月", "Previous month"),
    "next_month": ("翌月", "Next month"),
    "services_of_system": ("業務", "Services"),
    "probe_results": ("最新のプローブ結果（拠点別）", "Latest probe results per location"),
    "no_probe_results": ("プローブ結果はまだありません。", "No probe results yet."),
    "location": ("拠点", "Location"),
    "check": ("チェック", "Check"),
    "observed_at": ("取得日時", "Observed at"),
    "probe_result": ("結果", "Result"),
    "probe_ok": ("成功", "ok"),
    "probe_failed": ("失敗", "failed"),
    "failure_reason": ("失敗理由", "Failure reason"),
    "latency": ("応答時間", "Latency"),
    "strip_to_date": ("月初から{now}まで", "From the 1st to {now}"),
    "state_future": ("これから", "not yet"),
    "strip_legend": ("凡例", "Legend"),
    "blips": ("一時的な失敗（瞬断）", "Blips (short failures)"),
    "filters": ("絞り込み", "Filters"),
    "all": ("すべて", "All"),
    "only_open": ("継続中のみ", "Ongoing only"),
    "only_breached": ("復旧目標超過のみ", "Recovery breached only"),
    "apply": ("適用", "Apply"),
    "incidents_title": ("障害一覧", "Incidents"),
    "incident_subject": ("障害の対象", "Affected"),
    "service_only_incident": ("この業務のみ", "this service only"),
    "affected_services": ("停止した業務", "Services down"),
    "level_system_row": ("システム全体", "whole system"),
    "exclusions_title": ("除外期間（計画停止・災害による停止）", "Exclusion windows"),
    "register_window": ("除外期間の登録", "Register a window"),
    "register": ("登録", "Register"),
    "retroactive_help": (
        "開始済みの計画停止を事後登録します（管理者のみ、理由が必要）。",
        "Register a planned window that already started (admin only, with a reason).",
    ),
    "times_in_zone_shown": ("時刻は {zone} で表示しています。", "Times are shown in {zone}."),
    "times_in_zone": ("時刻は {zone} で入力してください。", "Enter times in {zone}."),
    "form_has_errors": ("入力内容を確認してください。", "Please check the form."),
    "window_registered": ("除外期間 #{id} を登録しました。", "Window #{id} was registered."),
    "window_actions": ("操作", "Actions"),
    "end_or_remove": ("終了・削除", "End or remove"),
    "change_reason": ("理由（監査ログに残ります）", "Reason (kept in the audit log)"),
    "end_window_now": ("今すぐ終了", "End now"),
    "remove_window": ("削除", "Remove"),
    "window_ended": ("除外期間 #{id} を終了しました。", "Window #{id} was ended."),
    "window_removed": ("除外期間 #{id} を削除しました。", "Window #{id} was removed."),
    "only_admin_changes": (
        "除外期間の終了・削除は管理者だけが行えます。",
        "Only an admin may end or remove a window.",
    ),
    "audit_entry": ("監査ログの記録", "Audit log entry"),
    "viewer_cannot_register": (
        "除外期間の登録には運用者または管理者の権限が必要です。",
        "Registering windows needs the operator or admin role.",
    ),
    "sign_in_to_register": (
        "除外期間を登録するにはサインインしてください。",
        "Sign in to register a window.",
    ),
    "upcoming_and_recent": ("今後と直近90日の除外期間", "Upcoming and last 90 days"),
    "reports_title": ("月次報告書のダウンロード", "Monthly report downloads"),
    "reports_help": (
        "各月の報告書を形式・言語ごとにダウンロードできます。当月分は現時点までの速報値です。",
        "Each month in every format and language. The current month is month to date.",
    ),
    "format": ("形式", "Format"),
    "lang_ja": ("日本語", "Japanese"),
    "lang_en": ("英語", "English"),
    "audit_title": ("監査ログ", "Audit log"),
    "audit_at": ("日時", "At"),
    "audit_actor": ("実行者", "Actor"),
    "audit_action": ("操作", "Action"),
    "audit_entity": ("対象", "Entity"),
    "audit_before": ("変更前", "Before"),
    "audit_after": ("変更後", "After"),
    "audit_reason": ("理由", "Reason"),
    "no_audit": ("記録はありません。", "No entries."),
    "older": ("さらに古い記録", "Older entries"),
    "newer": ("新しい記録", "Newer entries"),
    "status_title": ("マイナンバー関連システムの稼働状況", "My Number systems status"),
    "status_day_bar": (
        "日別の稼働状況（左が{days}日前、右が今日）",
        "Each day's availability (left: {days} days ago, right: today)",
    ),
    "status_coverage": (
        "過去{days}日のうちデータのある日: {with_data}日",
        "Days with data: {with_data} of the last {days}",
    ),
    "day_ok": ("目標達成", "met target"),
    "day_missed": ("目標未達", "below target"),
    "day_no_data": ("データなし（監視していない日）", "no data (not monitored)"),
    "status_period_availability": (
        "データのある{days}日間の稼働率",
        "Availability over the {days} days with data",
    ),
    "status_no_data_yet": ("まだデータがありません", "No data yet"),
    "status_note": (
        "計画停止・災害による停止を除く。表示は切り捨て。",
        "Excluding planned and disaster stops. Figures are truncated.",
    ),
    "error_title": ("エラー", "Error"),
    "back_to_overview": ("概況へ戻る", "Back to the overview"),
    "field_scope": ("対象", "Scope"),
    "field_kind": ("種別", "Kind"),
    "field_start": ("開始", "Start"),
    "field_end": ("終了", "End"),
    "field_reason": ("理由", "Reason"),
    "field_retroactive": ("事後登録", "Retroactive"),
    "field_created_by": ("登録者", "Registered by"),
    "field_name": ("名前", "Name"),
    "field_role": ("役割", "Role"),
    "audit_action_create": ("作成", "created"),
    "audit_action_update": ("変更", "changed"),
    "audit_action_delete": ("削除", "removed"),
    "audit_action_revoke": ("失効", "revoked"),
    "audit_entity_exclusion": ("除外期間", "exclusion window"),
    "audit_entity_token": ("APIトークン", "API token"),
    "audit_field": ("項目", "Field"),
    "audit_json": ("記録の JSON", "The entry as JSON"),
}


def text(key: str, lang: Lang, **values: object) -> str:
    """The label in ``lang``, with ``{name}`` placeholders filled."""
    pair = _PAGE_LABELS.get(key)
    if pair is None:
        template = report_labels.label(key, lang)  # KeyError when neither has it
    else:
        template = pair[0] if lang == "ja" else pair[1]
    return template.format(**values) if values else template


def pick_lang(value: str | None) -> Lang:
    return "en" if value == "en" else DEFAULT_LANG
