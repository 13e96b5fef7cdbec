"""What every route needs, from ``app.state``: the runtime, the clock, the state cache."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import Request

from app.current import CurrentStateCache
from app.runtime import Runtime


@dataclass
class ApiContext:
    runtime: Runtime
    clock: Callable[[], datetime]
    current: CurrentStateCache

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.runtime.timezone)

    def now(self) -> datetime:
        return self.clock()


def api_context(request: Request) -> ApiContext:
    context = request.app.state.kadou
    assert isinstance(context, ApiContext)
    return context
