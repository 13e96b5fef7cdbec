"""Rendezvous hashing of a location's checks over its live runners (``app.assignments``)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from app.assignments import LIVE_INTERVALS, assign, live_runners

CHECKS = [f"system{i // 10}/service/check{i}" for i in range(1000)]


def test_every_check_has_exactly_one_live_owner_and_the_share_is_even() -> None:
    runners = ["tokyo-a", "tokyo-b", "tokyo-c", "tokyo-d"]
    owners = assign(CHECKS, runners)
    assert set(owners) == set(CHECKS) and set(owners.values()) == set(runners)
    for count in Counter(owners.values()).values():
        assert 180 <= count <= 320  # 250 each on average


def test_the_answer_does_not_depend_on_the_order_runners_are_listed_in() -> None:
    assert assign(CHECKS, ["b", "a", "c"]) == assign(CHECKS, ["c", "b", "a", "a"])


def test_a_new_runner_takes_only_checks_it_now_wins() -> None:
    before = assign(CHECKS, ["tokyo-a", "tokyo-b"])
    after = assign(CHECKS, ["tokyo-a", "tokyo-b", "tokyo-c"])
    moved = [key for key in CHECKS if before[key] != after[key]]
    assert moved and all(after[key] == "tokyo-c" for key in moved)
    assert 230 <= len(moved) <= 430  # about a third


def test_losing_a_runner_hands_over_only_its_checks() -> None:
    before = assign(CHECKS, ["tokyo-a", "tokyo-b", "tokyo-c"])
    after = assign(CHECKS, ["tokyo-a", "tokyo-c"])
    for key in CHECKS:
        if before[key] != "tokyo-b":
            assert after[key] == before[key]
        else:
            assert after[key] in ("tokyo-a", "tokyo-c")


def test_no_live_runner_means_no_assignment() -> None:
    assert assign(CHECKS, []) == {}


def test_a_runner_is_live_while_its_heartbeat_is_fresh() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    limit = timedelta(milliseconds=LIVE_INTERVALS * 10_000)
    beats = [
        ("fresh", "tokyo", now - limit, 10_000),
        ("stale", "tokyo", now - limit - timedelta(milliseconds=1), 10_000),
        ("elsewhere", "osaka", now, 10_000),
    ]
    assert live_runners(beats, "tokyo", now) == ["fresh"]
    assert live_runners(beats, "osaka", now) == ["elsewhere"]
