"""A per-host token bucket that also obeys server-driven pauses.

Why not a rate-limiter package: the pacing here must also absorb what a server tells us at run
time (``Retry-After``, Shopify's ``X-Shopify-Shop-Api-Call-Limit`` fill level), i.e. "no request
to this host before time T". ``pyrate-limiter`` 3.x models only fixed rates (and its API changed
across every major); a 40-line bucket with a ``pause_until`` is simpler to reason about and test.
"""
import threading
import time
from typing import Callable
from urllib.parse import urlsplit


class TokenBucket:
    """Thread-safe token bucket: ``rate`` tokens per second, at most ``burst`` saved up.

    Args:
        rate: Tokens added per second (> 0).
        burst: Bucket capacity (>= 1).
        clock: Monotonic clock (tests may pass a fake).
        sleep: Sleep function (tests may pass a fake).
    """

    def __init__(self, rate: float, burst: float = 1.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self._rate = float(rate)
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._not_before = 0.0
        self._lock = threading.Lock()

    def pause_until(self, when: float) -> None:
        """No token is handed out before monotonic time ``when`` (server asked us to wait)."""
        with self._lock:
            self._not_before = max(self._not_before, when)

    def acquire(self) -> float:
        """Blocks until a token is available and takes it; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                if now >= self._not_before and self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                delay = max(self._not_before - now, (1 - self._tokens) / self._rate, 0.001)
            self._sleep(delay)
            waited += delay


class HostLimiter:
    """One :class:`TokenBucket` per host name, created on first use."""

    def __init__(self, rate: float, burst: float = 1.0):
        TokenBucket(rate, burst)  # validates the settings now, not at the first request
        self._rate = rate
        self._burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, url: str) -> TokenBucket:
        """The bucket of ``url``'s host (``host:port``)."""
        host = urlsplit(url).netloc.lower()
        with self._lock:
            if host not in self._buckets:
                self._buckets[host] = TokenBucket(self._rate, self._burst)
            return self._buckets[host]
