"""A token bucket per client, so one client cannot flood the feedback table.

Each client may send ``burst`` requests at once, then one more every
``60 / per_minute`` seconds. The buckets live in this process: with several
server processes each keeps its own (perfdata's ``serve`` runs one).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    burst: int = 10
    per_minute: float = 10.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_minute <= 0:
            raise ValueError("a rate limit needs burst >= 1 and per_minute > 0")


class RateLimiter:
    # Beyond this many clients the least recently seen bucket is forgotten
    # (which only makes that client's limit start afresh): memory stays bounded.
    MAX_CLIENTS = 10_000

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic):
        self._limit = limit
        self._rate = limit.per_minute / 60.0  # tokens per second
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, client: str) -> int | None:
        """Spend one token: None if allowed, else whole seconds to wait (for Retry-After)."""
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(client, (float(self._limit.burst), now))
            tokens = min(float(self._limit.burst), tokens + (now - at) * self._rate)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self.MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return None if allowed else max(1, math.ceil((1.0 - tokens) / self._rate))
