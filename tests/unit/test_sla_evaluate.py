"""End to end through ``evaluate``: observations in, the numbers of SLA-SEMANTICS out."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sla.availability import UnknownPolicy, display_percent
from app.sla.calendar import OperatingHours, to_ms
from app.sla.evaluate import Evaluation, ServiceInput, StructurePiece, SystemInput, evaluate
from app.sla.exclusions import ExclusionKind, ExclusionWindow
from app.sla.intervals import IntervalSet
from app.sla.periods import Period, month
from app.sla.timeline import CheckState, Observation, Segment, build_segments

TOKYO = ZoneInfo("Asia/Tokyo")
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
THREE_NINES = Fraction(Decimal("0.999"))


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return to_ms(datetime(year, month, day, hour, minute, tzinfo=TOKYO))


def probe_log(
    start_ms: int,
    end_ms: int,
    failing: IntervalSet = IntervalSet(),
    silent: IntervalSet = IntervalSet(),
    step_ms: int = MINUTE,
) -> list[Observation]:
    """One observation every ``step_ms``; failed inside ``failing``, none inside ``silent``."""
    return [
        Observation(at_ms, not failing.contains(at_ms))
        for at_ms in range(start_ms, end_ms, step_ms)
        if not silent.contains(at_ms)
    ]


def service(
    segments: Mapping[tuple[str, str], Sequence[Segment]],
    *,
    service_id: str = "exchange",
    exclusions: Sequence[ExclusionWindow] = (),
    hours: OperatingHours = OperatingHours(),
    quorum: int = 1,
    core: bool = True,
    recovery_target_ms: int | None = None,
    check_keys: tuple[str, ...] = ("http",),
    target: Fraction = THREE_NINES,
    pieces: Sequence[StructurePiece] | None = None,
) -> ServiceInput:
    return ServiceInput(
        system_id="info-network",
        service_id=service_id,
        target=target,
        core=core,
        quorum=quorum,
        hours=hours,
        recovery_target_ms=recovery_target_ms,
        policy=UnknownPolicy.EXCLUDE,
        check_keys=check_keys,
        segments=segments,
        exclusions=exclusions,
        pieces=pieces,
    )


def system(*services: ServiceInput, recovery_target_ms: int | None = None) -> SystemInput:
    return SystemInput(
        system_id="info-network",
        target=THREE_NINES,
        recovery_target_ms=recovery_target_ms,
        policy=UnknownPolicy.EXCLUDE,
        services=services,
    )


def segments_of(observations: list[Observation]) -> list[Segment]:
    return build_segments(observations, confirm=2, stale_after_ms=180 * SECOND)


def run(
    systems: Sequence[SystemInput], period: Period, cutoff_ms: int | None = None
) -> list[Evaluation]:
    cutoff = period.end_ms + 40 * DAY if cutoff_ms is None else cutoff_ms
    return evaluate(systems, period, cutoff, period.start_ms - 2 * DAY, period.end_ms + 2 * DAY)


# -- SLA-SEMANTICS §7 ---------------------------------------------------------------------


def worked_example_input() -> SystemInput:
    failing = IntervalSet(
        [
            (jst(2026, 10, 4, 2, 30), jst(2026, 10, 4, 3, 20)),
            (jst(2026, 10, 31, 23, 50), jst(2026, 11, 1, 0, 40)),
        ]
    )
    # Observations at 11:57 and then 12:30: none in between.
    silent = IntervalSet.span(jst(2026, 10, 15, 11, 57) + 1, jst(2026, 10, 15, 12, 30))
    observations = probe_log(
        jst(2026, 10, 1), jst(2026, 11, 30, 12), failing=failing, silent=silent
    )
    planned = ExclusionWindow(jst(2026, 10, 4, 1), jst(2026, 10, 4, 3), ExclusionKind.PLANNED)
    exchange = service({("http", "tokyo"): segments_of(observations)}, exclusions=[planned])
    return system(exchange, recovery_target_ms=8 * HOUR)


def test_worked_example_october_2026() -> None:
    october = month(2026, 10, "Asia/Tokyo")
    service_evaluation, system_evaluation = run([worked_example_input()], october)
    for evaluation in (service_evaluation, system_evaluation):
        figures = evaluation.figures
        assert figures.scheduled_ms == 2_671_200 * SECOND
        assert figures.planned_excluded_ms == 2 * HOUR
        assert figures.unknown_ms == 1_800 * SECOND
        assert figures.downtime_ms == 1_800 * SECOND
        assert figures.availability == Fraction(2_671_200 - 3_600, 2_671_200 - 1_800)
        assert display_percent(figures.availability, THREE_NINES) == "99.93%"
        assert figures.met is True
        assert figures.error_budget_ms == Fraction(2_669_400)  # 2 669.4 s
        assert figures.error_budget_remaining_ms == Fraction(869_400)  # 869.4 s
        assert not figures.insufficient_data
    assert service_evaluation.service_id == "exchange" and system_evaluation.service_id is None
    incidents = service_evaluation.incidents
    assert [(i.start_ms, i.end_ms, i.downtime_ms) for i in incidents] == [
        (jst(2026, 10, 4, 2, 30), jst(2026, 10, 4, 3, 20), 20 * MINUTE),
        (jst(2026, 10, 31, 23, 50), jst(2026, 11, 1, 0, 40), 10 * MINUTE),
    ]
    assert all(incident.recovery_met for incident in incidents)
    assert system_evaluation.incidents == incidents


def test_worked_example_incident_appears_in_november_with_its_own_downtime() -> None:
    november = month(2026, 11, "Asia/Tokyo")
    service_evaluation, _ = run([worked_example_input()], november)
    [incident] = service_evaluation.incidents
    assert (incident.start_ms, incident.end_ms) == (
        jst(2026, 10, 31, 23, 50),
        jst(2026, 11, 1, 0, 40),
    )
    assert incident.duration_ms == 50 * MINUTE
    assert incident.downtime_ms == 40 * MINUTE == service_evaluation.figures.downtime_ms
    assert service_evaluation.figures.scheduled_ms == 30 * DAY


# -- month boundaries, data and calendars -----------------------------------------------


def always_up(period: Period, step_ms: int = 10 * MINUTE) -> list[Segment]:
    observations = probe_log(period.start_ms - HOUR, period.end_ms + HOUR, step_ms=step_ms)
    return build_segments(observations, confirm=2, stale_after_ms=3 * step_ms)


def test_down_crossing_a_month_boundary_splits_its_downtime() -> None:
    boundary = jst(2026, 12, 1)
    failing = IntervalSet.span(boundary - 30 * MINUTE, boundary + 90 * MINUTE)
    observations = probe_log(jst(2026, 11, 20), jst(2026, 12, 10), failing=failing)
    inputs = [system(service({("http", "tokyo"): segments_of(observations)}))]
    november = run(inputs, month(2026, 11, "Asia/Tokyo"))[0]
    december = run(inputs, month(2026, 12, "Asia/Tokyo"))[0]
    assert november.figures.downtime_ms == 30 * MINUTE
    assert december.figures.downtime_ms == 90 * MINUTE
    spans = [[(i.start_ms, i.end_ms) for i in e.incidents] for e in (november, december)]
    assert spans[0] == spans[1] == [failing.intervals[0]]
    assert november.incidents[0].downtime_ms == 30 * MINUTE
    assert december.incidents[0].downtime_ms == 90 * MINUTE


def test_month_lengths_through_evaluate() -> None:
    for year, number, days in ((2026, 2, 28), (2028, 2, 29), (2026, 10, 31), (2026, 9, 30)):
        period = month(year, number, "Asia/Tokyo")
        [service_evaluation, _] = run(
            [system(service({("http", "tokyo"): always_up(period)}))], period
        )
        assert service_evaluation.figures.scheduled_ms == days * DAY
        assert service_evaluation.figures.availability == 1
        assert service_evaluation.figures.error_budget_ms == Fraction(days * DAY, 1000)


def test_month_with_no_data_has_no_availability() -> None:
    period = month(2026, 10, "Asia/Tokyo")
    service_evaluation, system_evaluation = run([system(service({}))], period)
    for evaluation in (service_evaluation, system_evaluation):
        assert evaluation.figures.availability is None
        assert evaluation.figures.unknown_ms == 31 * DAY
        assert evaluation.figures.insufficient_data
        assert display_percent(evaluation.figures.availability, THREE_NINES) == "—"


def test_month_to_date_stops_at_the_cutoff() -> None:
    period = month(2026, 10, "Asia/Tokyo")
    now = jst(2026, 10, 10, 12)
    failing = IntervalSet.span(jst(2026, 10, 10, 11), now + HOUR)
    observations = probe_log(period.start_ms, now, failing=failing)
    [service_evaluation, _] = run(
        [system(service({("http", "tokyo"): segments_of(observations)}), recovery_target_ms=HOUR)],
        period,
        cutoff_ms=now,
    )
    assert service_evaluation.figures.scheduled_ms == 9 * DAY + 12 * HOUR
    assert service_evaluation.timeline.end_ms == now
    [incident] = service_evaluation.incidents
    # Down for exactly the target so far: ongoing, not yet breached.
    assert (incident.end_ms, incident.duration_ms, incident.recovery_met) == (None, HOUR, None)
    later = run(
        [system(service({("http", "tokyo"): segments_of(observations)}), recovery_target_ms=HOUR)],
        period,
        cutoff_ms=now + MINUTE,
    )[0]
    # No observation after `now`, but the last failure holds for stale_after: still down.
    assert later.incidents[0].recovery_met is False and later.incidents[0].end_ms is None


def test_operating_hours_and_dates_off_through_evaluate() -> None:
    # Weekdays 08:30-21:00 JST, closed 12-29..01-03: in December 2026 that leaves the
    # 20 weekdays from 1 to 28 December (the 29th to 31st are weekdays too, but off).
    hours = OperatingHours(
        weekly={weekday: ((510, 1260),) for weekday in range(5)},
        dates_off=(((12, 29), (1, 3)),),
    )
    period = month(2026, 12, "Asia/Tokyo")
    failing = IntervalSet(
        [
            (jst(2026, 12, 5, 10), jst(2026, 12, 5, 11)),  # Saturday: not scheduled
            (jst(2026, 12, 30, 10), jst(2026, 12, 30, 11)),  # date off
            (jst(2026, 12, 7, 8), jst(2026, 12, 7, 9)),  # Monday from 08:00: 30 min count
        ]
    )
    observations = probe_log(period.start_ms - HOUR, period.end_ms + HOUR, failing=failing)
    [service_evaluation, _] = run(
        [system(service({("http", "tokyo"): segments_of(observations)}, hours=hours))], period
    )
    figures = service_evaluation.figures
    assert figures.scheduled_ms == 20 * (12 * HOUR + 30 * MINUTE)
    assert figures.downtime_ms == 30 * MINUTE
    # Incidents are listed whether or not they fell in scheduled time.
    assert [i.downtime_ms for i in service_evaluation.incidents] == [0, 30 * MINUTE, 0]


# -- the error budget of a running period (§5: S_P) --------------------------------------

FOUR_NINES = Fraction(Decimal("0.9999"))


@pytest.mark.parametrize(
    ("year", "number", "target", "budget_ms"),
    [
        (2026, 10, THREE_NINES, 2_678_400),  # 31 days at 99.9 %: 44.64 min
        (2026, 11, THREE_NINES, 2_592_000),  # 30 days: 43.2 min
        (2026, 11, FOUR_NINES, 259_200),  # 259.2 s
        (2026, 10, FOUR_NINES, 267_840),  # 267.84 s
    ],
)
def test_budget_is_the_whole_months_from_its_first_minute(
    year: int, number: int, target: Fraction, budget_ms: int
) -> None:
    period = month(year, number, "Asia/Tokyo")
    inputs = [system(service({("http", "tokyo"): always_up(period)}, target=target))]
    for cutoff in (period.start_ms + MINUTE, period.start_ms + DAY, period.end_ms - MINUTE):
        [evaluation, whole_system] = run(inputs, period, cutoff_ms=cutoff)
        # Month-to-date figures stay to now; only the budget is the whole month's.
        assert evaluation.figures.scheduled_ms == cutoff - period.start_ms
        assert evaluation.figures.availability == 1
        assert evaluation.figures.error_budget_ms == Fraction(budget_ms)
        assert evaluation.figures.error_budget_remaining_ms == Fraction(budget_ms)
        # The system's own target is 99.9 %.
        assert whole_system.figures.error_budget_ms == Fraction(period.duration_ms, 1000)
    [ended, _] = run(inputs, period)
    assert ended.figures.error_budget_ms == Fraction(budget_ms)


def test_budget_shrinks_only_by_downtime_and_unknown_time() -> None:
    period = month(2026, 10, "Asia/Tokyo")
    failing = IntervalSet.span(jst(2026, 10, 4, 2, 30), jst(2026, 10, 4, 2, 50))  # 20 min
    # Observations at 11:57 and then 12:30: unknown 12:00-12:30 (stale after 180 s).
    silent = IntervalSet.span(jst(2026, 10, 15, 11, 57) + 1, jst(2026, 10, 15, 12, 30))
    observations = probe_log(period.start_ms, period.end_ms, failing=failing, silent=silent)
    inputs = [system(service({("http", "tokyo"): segments_of(observations)}))]

    def budget_at(cutoff: int) -> tuple[Fraction | None, Fraction | None]:
        [evaluation, _] = run(inputs, period, cutoff_ms=cutoff)
        return evaluation.figures.error_budget_ms, evaluation.figures.error_budget_remaining_ms

    whole_month_ms = 31 * DAY // 1000
    assert budget_at(jst(2026, 10, 2)) == (whole_month_ms, whole_month_ms)
    # Downtime spends the budget; the budget itself stays.
    assert budget_at(jst(2026, 10, 10)) == (whole_month_ms, whole_month_ms - 20 * MINUTE)
    # Unknown time leaves the budget's base (as it leaves the availability's).
    budget = Fraction(31 * DAY - 30 * MINUTE, 1000)
    assert budget_at(jst(2026, 10, 20)) == (budget, budget - 20 * MINUTE)
    assert budget_at(period.end_ms + DAY) == (budget, budget - 20 * MINUTE)


def test_budget_of_a_running_month_counts_its_later_windows_and_operating_hours() -> None:
    # Weekdays 08:30-21:00 JST, closed 12-29..01-03: 20 weekdays of 12.5 h in December
    # 2026. A planned window on the 21st (2 h inside the hours) is known from the 1st.
    hours = OperatingHours(
        weekly={weekday: ((510, 1260),) for weekday in range(5)},
        dates_off=(((12, 29), (1, 3)),),
    )
    period = month(2026, 12, "Asia/Tokyo")
    planned = ExclusionWindow(jst(2026, 12, 21, 10), jst(2026, 12, 21, 12), ExclusionKind.PLANNED)
    inputs = [
        system(service({("http", "tokyo"): always_up(period)}, hours=hours, exclusions=[planned]))
    ]
    scheduled_ms = 20 * (12 * HOUR + 30 * MINUTE) - 2 * HOUR
    [first_morning, _] = run(inputs, period, cutoff_ms=jst(2026, 12, 1, 9, 30))
    assert first_morning.figures.scheduled_ms == HOUR
    assert first_morning.figures.planned_excluded_ms == 0  # the window is still ahead
    assert first_morning.figures.error_budget_ms == Fraction(scheduled_ms, 1000)
    [ended, _] = run(inputs, period)
    assert ended.figures.scheduled_ms == scheduled_ms
    assert ended.figures.error_budget_ms == first_morning.figures.error_budget_ms


def test_system_budget_is_taken_on_its_core_services_whole_period() -> None:
    # Two core services, one open mornings and one afternoons: the system is scheduled
    # when either is, over the whole month, whatever the hour of the cut-off. (A budget
    # needs some scheduled time with data, as availability does: hence 13:00, not 06:00.)
    period = month(2026, 10, "Asia/Tokyo")
    mornings = OperatingHours(weekly={day: ((0, 720),) for day in range(7)})
    afternoons = OperatingHours(weekly={day: ((720, 1440),) for day in range(7)})
    inputs = [
        system(
            service({("http", "t"): always_up(period)}, service_id="am", hours=mornings),
            service({("http", "t"): always_up(period)}, service_id="pm", hours=afternoons),
        )
    ]
    morning, afternoon, whole_system = run(inputs, period, cutoff_ms=jst(2026, 10, 1, 13))
    assert morning.figures.error_budget_ms == afternoon.figures.error_budget_ms
    assert morning.figures.error_budget_ms == Fraction(31 * DAY // 2, 1000)
    assert whole_system.figures.scheduled_ms == 13 * HOUR
    assert whole_system.figures.error_budget_ms == Fraction(31 * DAY, 1000)


# -- locations, checks, blips -----------------------------------------------------------


def test_blip_counts_as_up_but_is_reported() -> None:
    period = month(2026, 10, "Asia/Tokyo")
    blip_at = jst(2026, 10, 7, 9)
    observations = probe_log(
        period.start_ms, period.end_ms, failing=IntervalSet.span(blip_at, blip_at + 1)
    )
    service_evaluation, system_evaluation = run(
        [system(service({("http", "tokyo"): segments_of(observations)}))], period
    )
    assert service_evaluation.figures.downtime_ms == 0
    assert service_evaluation.figures.availability == 1
    assert service_evaluation.incidents == []
    expected = [Segment(blip_at, blip_at + MINUTE, CheckState.BLIP)]
    assert service_evaluation.blips == expected == system_evaluation.blips


def test_down_is_backdated_to_the_first_failure() -> None:
    period = month(2026, 10, "Asia/Tokyo")
    first_failure = jst(2026, 10, 7, 9)
    observations = probe_log(
        period.start_ms,
        period.end_ms,
        failing=IntervalSet.span(first_failure, first_failure + 3 * MINUTE),
    )
    segments = build_segments(observations, confirm=3, stale_after_ms=180 * SECOND)
    [service_evaluation, _] = run([system(service({("http", "tokyo"): segments}))], period)
    assert service_evaluation.figures.downtime == IntervalSet.span(
        first_failure, first_failure + 3 * MINUTE
    )
    assert service_evaluation.incidents[0].start_ms == first_failure


def test_quorum_two_of_two_locations_through_evaluate() -> None:
    period = month(2026, 10, "Asia/Tokyo")
    tokyo_down = IntervalSet.span(jst(2026, 10, 7, 9), jst(2026, 10, 7, 10))
    osaka_down = IntervalSet.span(jst(2026, 10, 7, 9, 30), jst(2026, 10, 7, 11))
    segments = {
        ("http", "tokyo"): segments_of(probe_log(period.start_ms, period.end_ms, tokyo_down)),
        ("http", "osaka"): segments_of(probe_log(period.start_ms, period.end_ms, osaka_down)),
    }
    [both, _] = run([system(service(segments, quorum=2))], period)
    assert both.figures.downtime == tokyo_down & osaka_down
    [either, _] = run([system(service(segments, quorum=1))], period)
    assert either.figures.downtime == tokyo_down | osaka_down


def test_a_check_without_data_makes_the_service_unknown_not_up() -> None:
    period = month(2026, 10, "Asia/Tokyo")
    segments = {("http", "tokyo"): always_up(period)}  # the "tls" check never reported
    [service_evaluation, _] = run([system(service(segments, check_keys=("http", "tls")))], period)
    assert service_evaluation.figures.availability is None
    assert service_evaluation.figures.unknown_ms == 31 * DAY


def test_system_counts_only_core_services_and_their_own_windows() -> None:
    period = month(2026, 10, "Asia/Tokyo")
    window = IntervalSet.span(jst(2026, 10, 7, 9), jst(2026, 10, 7, 10))
    planned_on_records = ExclusionWindow(*window.intervals[0], ExclusionKind.PLANNED)
    down_records = segments_of(probe_log(period.start_ms, period.end_ms, window))
    later = IntervalSet.span(jst(2026, 10, 8, 9), jst(2026, 10, 8, 9, 10))
    down_notices = segments_of(probe_log(period.start_ms, period.end_ms, later))
    evaluations = run(
        [
            system(
                service(
                    {("http", "t"): down_records},
                    service_id="records",
                    exclusions=[planned_on_records],
                ),
                service({("http", "t"): always_up(period)}, service_id="self-info"),
                service({("http", "t"): down_notices}, service_id="notices", core=False),
            )
        ],
        period,
    )
    records, self_info, notices, whole_system = evaluations
    assert self_info.figures.availability == 1
    assert [e.service_id for e in evaluations] == ["records", "self-info", "notices", None]
    assert records.figures.downtime_ms == 0 and notices.figures.downtime_ms == 10 * MINUTE
    # The window on `records` excused it; `self-info` was up; `notices` is not core.
    assert whole_system.figures.downtime_ms == 0
    assert whole_system.figures.scheduled_ms == 31 * DAY
    assert whole_system.figures.planned_excluded_ms == 0
    # Yet the system incident is listed (a core service was down), costing nothing.
    assert [(i.start_ms, i.downtime_ms) for i in whole_system.incidents] == [(window.lower, 0)]


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(st.integers(0, 200), st.booleans(), max_size=60),
    st.randoms(use_true_random=False),
)
def test_evaluation_does_not_depend_on_arrival_order(
    results: dict[int, bool], rng: random.Random
) -> None:
    period = Period("range", "test", 0, 200 * MINUTE, "Asia/Tokyo")
    observations = [Observation(at * MINUTE, ok) for at, ok in results.items()]
    shuffled = list(observations)
    rng.shuffle(shuffled)
    outcomes = [
        evaluate(
            [system(service({("http", "t"): segments_of(ordering)}))], period, 10**15, 0, 10**15
        )
        for ordering in (observations, shuffled)
    ]
    assert outcomes[0] == outcomes[1]


# -- SLA-SEMANTICS §8: structure piece by piece ---------------------------------------------

FAR_PAST, FAR_FUTURE = -(2**62), 2**62


def piece(
    start_ms: int,
    end_ms: int,
    *,
    check_keys: tuple[str, ...] = ("http",),
    hours: OperatingHours = OperatingHours(),
    core: bool = True,
    quorum: int = 1,
) -> StructurePiece:
    return StructurePiece(start_ms, end_ms, core, quorum, hours, check_keys)


def test_one_piece_over_all_time_is_the_single_structure() -> None:
    october = month(2026, 10, "Asia/Tokyo")
    plain = worked_example_input()
    exchange = plain.services[0]
    pieced = replace(plain, services=[replace(exchange, pieces=[piece(FAR_PAST, FAR_FUTURE)])])
    for before, after in zip(run([plain], october), run([pieced], october), strict=True):
        assert after.figures == before.figures
        assert after.incidents == before.incidents
        assert after.schedule == before.schedule and after.timeline == before.timeline


def test_a_service_that_exists_from_the_15th_is_scheduled_and_judged_from_then() -> None:
    october = month(2026, 10, "Asia/Tokyo")
    added = jst(2026, 10, 15)
    # Failing before it existed: none of that is its downtime, nor an incident.
    failing = IntervalSet.span(jst(2026, 10, 3), jst(2026, 10, 3, 1))
    observations = probe_log(jst(2026, 9, 29), jst(2026, 11, 3), failing=failing)
    new = service({("http", "tokyo"): segments_of(observations)}, pieces=[piece(added, FAR_FUTURE)])
    evaluation, system_evaluation = run([system(new)], october)
    assert evaluation.figures.scheduled_ms == 17 * DAY
    assert evaluation.figures.downtime_ms == 0 and evaluation.figures.unknown_ms == 0
    assert evaluation.incidents == [] and evaluation.blips == []
    assert system_evaluation.figures.scheduled_ms == 17 * DAY
    assert system_evaluation.incidents == []


def test_a_removed_check_counts_until_its_removal_only() -> None:
    october = month(2026, 10, "Asia/Tokyo")
    removed = jst(2026, 10, 20, 12)
    healthy = probe_log(jst(2026, 9, 29), jst(2026, 11, 3))
    failing = IntervalSet(
        [(jst(2026, 10, 5, 10), jst(2026, 10, 5, 10, 30)), (removed, jst(2026, 11, 3))]
    )
    api = probe_log(jst(2026, 9, 29), jst(2026, 11, 3), failing=failing)
    main = service(
        {("http", "tokyo"): segments_of(healthy), ("api", "tokyo"): segments_of(api)},
        check_keys=("http", "api"),
        pieces=[
            piece(FAR_PAST, removed, check_keys=("http", "api")),
            piece(removed, FAR_FUTURE, check_keys=("http",)),
        ],
    )
    evaluation, _ = run([system(main)], october)
    assert evaluation.figures.downtime_ms == 30 * MINUTE
    assert evaluation.figures.unknown_ms == 0
    assert evaluation.figures.scheduled_ms == 31 * DAY


def test_hours_apply_piecewise_and_core_counts_only_while_core() -> None:
    october = month(2026, 10, "Asia/Tokyo")
    changed = jst(2026, 10, 16)
    office = OperatingHours(weekly={day: ((9 * 60, 18 * 60),) for day in range(7)})
    # Down for an hour on the 20th, when it is no longer core.
    failing = IntervalSet.span(jst(2026, 10, 20, 10), jst(2026, 10, 20, 11))
    observations = probe_log(jst(2026, 9, 29), jst(2026, 11, 3), failing=failing)
    main = service({("http", "tokyo"): segments_of(probe_log(jst(2026, 9, 29), jst(2026, 11, 3)))})
    side = service(
        {("http", "tokyo"): segments_of(observations)},
        service_id="side",
        hours=office,
        core=False,
        pieces=[piece(FAR_PAST, changed), piece(changed, FAR_FUTURE, hours=office, core=False)],
    )
    main_evaluation, side_evaluation, system_evaluation = run([system(main, side)], october)
    assert side_evaluation.figures.scheduled_ms == 15 * DAY + 16 * 9 * HOUR
    assert side_evaluation.figures.downtime_ms == HOUR
    assert main_evaluation.figures.downtime_ms == 0
    # The system: scheduled all month (main), not down when side, no longer core, was.
    assert system_evaluation.figures.scheduled_ms == 31 * DAY
    assert system_evaluation.figures.downtime_ms == 0 and system_evaluation.incidents == []
