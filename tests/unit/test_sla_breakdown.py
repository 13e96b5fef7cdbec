"""The strip and daily figures agree with the period's figures to the millisecond."""

from __future__ import annotations

import itertools

from app.sla.breakdown import StripState, daily_figures, state_strip
from app.sla.calendar import OperatingHours
from app.sla.evaluate import Evaluation, evaluate
from app.sla.exclusions import ExclusionKind, ExclusionWindow
from app.sla.intervals import IntervalSet
from app.sla.periods import Period, days_of, month
from app.sla.timeline import build_segments
from tests.unit.test_sla_evaluate import HOUR, MINUTE, jst, probe_log, service, system


def evaluated() -> tuple[Period, Evaluation]:
    period = month(2026, 10, "Asia/Tokyo")
    failing = IntervalSet([(jst(2026, 10, 4, 2, 30), jst(2026, 10, 4, 3, 20)),
                           (jst(2026, 10, 20, 23, 50), jst(2026, 10, 21, 0, 40))])  # fmt: skip
    silent = IntervalSet([(jst(2026, 10, 15, 11, 58), jst(2026, 10, 15, 12, 30))])
    log = probe_log(period.start_ms, period.end_ms, failing, silent)
    segments = {("http", "tokyo"): build_segments(log, 2, 3 * MINUTE)}
    planned = ExclusionWindow(jst(2026, 10, 4, 1), jst(2026, 10, 4, 3), ExclusionKind.PLANNED)
    hours = OperatingHours(
        weekly={d: ((0, 1440),) for d in range(7) if d != 2}
    )  # closed Wednesdays
    svc = service(segments, exclusions=[planned], hours=hours)
    evaluations = evaluate([system(svc)], period, period.end_ms, period.start_ms, period.end_ms)
    return period, evaluations[0]


def test_strip_covers_the_window_and_matches_the_figures() -> None:
    period, evaluation = evaluated()
    strip = state_strip(evaluation)
    assert strip[0].start_ms == period.start_ms and strip[-1].end_ms == period.end_ms
    assert all(a.end_ms == b.start_ms and a.state != b.state for a, b in itertools.pairwise(strip))
    total = {
        state: sum(r.end_ms - r.start_ms for r in strip if r.state is state) for state in StripState
    }
    figures = evaluation.figures
    assert total[StripState.DOWN] == figures.downtime_ms
    assert total[StripState.UNKNOWN] == figures.unknown_ms
    assert total[StripState.EXCLUDED] == figures.planned_excluded_ms + figures.disaster_excluded_ms
    assert total[StripState.UP] == figures.scheduled_ms - figures.downtime_ms - figures.unknown_ms
    assert total[StripState.OUTSIDE_HOURS] == 4 * 24 * HOUR  # four Wednesdays in October 2026


def test_daily_figures_add_up_to_the_month() -> None:
    period, evaluation = evaluated()
    days = daily_figures(evaluation, days_of(period))
    assert len(days) == 31 and days[0][0].label == "2026-10-01"
    figures = evaluation.figures
    assert sum(f.downtime_ms for _, f in days if f) == figures.downtime_ms
    assert sum(f.scheduled_ms for _, f in days if f) == figures.scheduled_ms
    assert sum(f.unknown_ms for _, f in days if f) == figures.unknown_ms
    by_label = {day.label: f for day, f in days}
    assert by_label["2026-10-04"] is not None and by_label["2026-10-04"].downtime_ms == 20 * MINUTE
    # The outage from Tuesday 23:50 to Wednesday 00:40 counts only until midnight.
    tuesday, wednesday = by_label["2026-10-20"], by_label["2026-10-21"]
    assert tuesday is not None and tuesday.downtime_ms == 10 * MINUTE
    assert wednesday is not None and wednesday.scheduled_ms == 0
    assert wednesday.availability is None


def test_days_of_a_running_month_take_their_budget_on_the_whole_day() -> None:
    period = month(2026, 10, "Asia/Tokyo")
    now = jst(2026, 10, 4, 6)  # the morning of Sunday the 4th
    log = probe_log(period.start_ms, now)
    segments = {("http", "tokyo"): build_segments(log, 2, 3 * MINUTE)}
    planned = ExclusionWindow(jst(2026, 10, 4, 20), jst(2026, 10, 4, 22), ExclusionKind.PLANNED)
    [evaluation, _] = evaluate(
        [system(service(segments, exclusions=[planned]))], period, now, period.start_ms, now
    )
    by_label = {day.label: f for day, f in daily_figures(evaluation, days_of(period))}
    ended, today = by_label["2026-10-03"], by_label["2026-10-04"]
    assert ended is not None and ended.error_budget_ms == 24 * HOUR / 1000
    # Six hours so far, but the budget of today's 22 scheduled hours (the window is known).
    assert today is not None and today.scheduled_ms == 6 * HOUR
    assert today.error_budget_ms == 22 * HOUR / 1000
    assert by_label["2026-10-05"] is None
    assert evaluation.figures.error_budget_ms == (31 * 24 - 2) * HOUR / 1000
