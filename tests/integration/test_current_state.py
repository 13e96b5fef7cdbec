"""The current-state service: a write is seen by its writer, on every surface at once."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.current import CurrentState, CurrentStateCache, DerivedCache
from tests.support.api import Api, open_api, series

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=JST)
CHECK = "info-network/main/http"
OUTAGE_START = NOW - timedelta(hours=2)
OUTAGE_END = NOW - timedelta(hours=1, minutes=30)
WAIT_SECONDS = 30


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    for api in open_api(sqlite_url, NOW):
        items = series(
            CHECK,
            NOW - timedelta(hours=4),
            NOW,
            timedelta(seconds=30),
            down=lambda at: OUTAGE_START <= at < OUTAGE_END,
        )
        assert api.post("/api/v1/results", {"observations": items}).status_code == 200
        yield api


def todays_bar(status_html: str, system: str) -> str:
    row = status_html.split(f'data-system="{system}"')[1].split("</li>")[0]
    match = re.search(rf'title="({NOW.date().isoformat()}: [^"]*)"', row)
    assert match, f"no bar for today in the {system} row"
    return match.group(1)


def test_an_api_write_clears_the_status_page_cache(api: Api) -> None:
    before = todays_bar(api.get("/status", role=None).text, "info-network")
    window = {
        "scope": "info-network",
        "kind": "disaster",
        "start": OUTAGE_START.isoformat(),
        "end": OUTAGE_END.isoformat(),
        "reason": "power cut at the data centre",
        "retroactive": True,
    }
    assert api.post("/api/v1/exclusions", window, role="admin").status_code == 201
    # The status page keeps its days for a minute; the write must drop them at once.
    after = todays_bar(api.get("/status", role=None).text, "info-network")
    assert after != before, f"today's bar still shows the figures from before the write: {after}"


def test_a_computation_overlapping_a_write_is_not_kept_as_fresh(api: Api) -> None:
    """The snapshot of a computation that began before ``invalidate()`` is not cached.

    The clock is read at the start of every computation: here it blocks until the test has
    invalidated the cache, which is a write landing while the computation runs.
    """
    started, written = threading.Event(), threading.Event()

    def clock() -> datetime:
        if not started.is_set():
            started.set()
            assert written.wait(WAIT_SECONDS), "the test never invalidated the cache"
        return NOW

    cache = CurrentStateCache(api.runtime, clock, max_age_seconds=3600)
    computed: list[CurrentState] = []
    computing = threading.Thread(target=lambda: computed.append(cache.get()))
    computing.start()
    assert started.wait(WAIT_SECONDS), "the computation never started"
    cache.invalidate()
    written.set()
    computing.join(WAIT_SECONDS)
    assert computed, "the computation did not finish"
    assert cache.peek() is None, "a snapshot computed across a write was kept as fresh"
    fresh = cache.get()
    assert fresh is not computed[0]
    assert cache.get() is fresh  # and a computation with no write meanwhile is kept


def test_derived_values_follow_the_current_state(api: Api) -> None:
    cache = CurrentStateCache(api.runtime, lambda: NOW, max_age_seconds=3600)
    derived: DerivedCache[int] = DerivedCache(cache, max_age_seconds=3600)
    computations = iter(range(100))
    first = derived.get(lambda: next(computations))
    assert derived.get(lambda: next(computations)) == first
    cache.invalidate()
    assert derived.get(lambda: next(computations)) == first + 1
