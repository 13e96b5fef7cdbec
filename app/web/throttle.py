"""Sign-in throttling: after too many refused tokens from one client address, wait.

Tokens are long random secrets, so guessing one is hopeless; the throttle is there so that
a script cannot try thousands a second (and fill the log doing it). It counts refused
sign-ins per client address in a sliding window, in this process's memory: an attacker
spreading attempts over several replicas gets a few times the allowance, which is still
nothing against a 256-bit secret, and no table is written on every failure.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_FAILURES = 10
WINDOW_SECONDS = 60.0
# Addresses remembered at most; the least recently refused is forgotten first, so a flood
# from many addresses cannot grow the process without bound.
MAX_ADDRESSES = 10_000


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until ``address`` may try again, or None if it may try now."""
        with self._lock:
            now = self._clock()
            failures = self._recent(address, now)
            if failures is None or len(failures) < self.max_failures:
                return None
            # Allowed again once the oldest failure that keeps it at the limit has aged out.
            oldest = failures[len(failures) - self.max_failures]
            return max(1, math.ceil(oldest + self.window_seconds - now))

    def refused(self, address: str) -> None:
        """Count one refused sign-in from ``address``."""
        with self._lock:
            now = self._clock()
            failures = self._recent(address, now) or deque()
            failures.append(now)
            # Only the last max_failures matter for the decision.
            while len(failures) > self.max_failures:
                failures.popleft()
            self._failures[address] = failures
            self._failures.move_to_end(address)
            while len(self._failures) > self._max_addresses:
                self._failures.popitem(last=False)
