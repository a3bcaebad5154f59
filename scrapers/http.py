"""``PoliteClient``: the one way scrapers make HTTP calls.

Every call goes through, in order: the circuit breaker (``pybreaker``), retries with exponential
backoff and jitter (``tenacity``) that honour ``Retry-After``, the per-host token bucket, a
rotating user agent and optional proxy, and a timeout. A source-specific ``classify`` hook maps
protocol-level errors (Graph error codes, Daraz ``code`` fields) onto the same retry decisions.
"""
import email.utils
import itertools
import logging
import time
import urllib.robotparser
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence
from urllib.parse import urlsplit

import pybreaker
import requests
from tenacity import (Retrying, retry_if_exception_type, stop_after_attempt,
                      wait_exponential_jitter)

from sensory.scrapers import metrics
from sensory.scrapers.errors import (RetryableError, RobotsDisallowedError, ScrapeError,
                                     SourceAuthError, SourceRequestError, ThrottledError)
from sensory.scrapers.ratelimit import HostLimiter

_LOGGER = logging.getLogger(__name__)

# Current desktop browsers; rotated per request so one string does not stand out in logs.
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
)
ROBOTS_AGENT = "SensoryBot"

Classifier = Callable[[requests.Response], Optional[Exception]]


@dataclass(frozen=True)
class Politeness:
    """How hard a scraper may push a host.

    Attributes:
        rate_per_s: Requests per second per host (token bucket rate).
        burst: Token bucket capacity.
        timeout_s: Connect and read timeout of every call.
        max_attempts: Attempts per call, the first included.
        backoff_initial_s: First backoff; doubles per attempt, with jitter.
        backoff_max_s: Backoff cap (a longer ``Retry-After`` is still honoured).
        breaker_fail_max: Failed calls in a row that open the circuit.
        breaker_reset_s: Seconds the circuit stays open before one trial call.
        user_agents: Rotated per request.
        proxies: Proxy URLs rotated per request (empty: direct).
    """

    rate_per_s: float = 2.0
    burst: float = 2.0
    timeout_s: float = 30.0
    max_attempts: int = 6
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    breaker_fail_max: int = 5
    breaker_reset_s: float = 300.0
    user_agents: Sequence[str] = USER_AGENTS
    proxies: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self):
        if self.timeout_s <= 0 or self.max_attempts < 1 or self.backoff_initial_s < 0:
            raise ValueError("timeout_s > 0, max_attempts >= 1 and backoff_initial_s >= 0 needed")
        if not self.user_agents:
            raise ValueError("at least one user agent is needed")


def read_proxies(path: str) -> tuple[str, ...]:
    """Proxy URLs from a file, one per line (``#`` comments and blank lines ignored).

    Raises:
        ValueError: The file holds no proxy, or a line is not a URL with a scheme and host.
    """
    with open(path, encoding="utf-8") as handle:
        lines = [line.split("#", 1)[0].strip() for line in handle]
    proxies = tuple(line for line in lines if line)
    for proxy in proxies:
        parts = urlsplit(proxy)
        if not parts.scheme or not parts.netloc:
            raise ValueError(f"{path}: {proxy!r} is not a proxy URL such as http://host:3128")
    if not proxies:
        raise ValueError(f"{path}: no proxy URL in the file")
    return proxies


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` as seconds: delta-seconds (``"2.0"``) or an HTTP date; None if absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def default_classify(response: requests.Response) -> Optional[Exception]:
    """429 → throttled, 5xx → retryable, 401/403 → auth, other 4xx → refused, else None."""
    status = response.status_code
    if status == 429:
        return ThrottledError(f"HTTP 429 from {urlsplit(response.url).netloc}",
                              retry_after_seconds(response.headers.get("Retry-After")))
    if status >= 500:
        return RetryableError(f"HTTP {status} from {urlsplit(response.url).netloc}",
                              retry_after_seconds(response.headers.get("Retry-After")))
    if status in (401, 403):
        return SourceAuthError(f"HTTP {status}: credentials refused by "
                               f"{urlsplit(response.url).netloc}")
    if status >= 400:
        return SourceRequestError(f"HTTP {status} from {urlsplit(response.url).path}")
    return None


class RetryAfterWait:
    """tenacity wait: the server's ``Retry-After`` when given, else exponential + jitter."""

    def __init__(self, initial: float, maximum: float):
        self._backoff = wait_exponential_jitter(initial=initial, max=maximum, jitter=initial)

    def __call__(self, retry_state) -> float:
        error = retry_state.outcome.exception()
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return error.retry_after
        return self._backoff(retry_state)


class PoliteClient:
    """An HTTP session for one source; use as a context manager.

    Args:
        source: Source name, for metrics and logs.
        politeness: Rate limit, retry, breaker and rotation settings.
        classify: Maps a response to an exception (or None when it is fine).
        breaker: A shared circuit breaker (the CLI keeps one across ``--every`` runs).
    """

    def __init__(self, source: str, politeness: Politeness, *,
                 classify: Classifier = default_classify,
                 breaker: Optional[pybreaker.CircuitBreaker] = None):
        self.source = source
        self._politeness = politeness
        self._classify = classify
        self._limiter = HostLimiter(politeness.rate_per_s, politeness.burst)
        self._agents = itertools.cycle(politeness.user_agents)
        self._proxies = itertools.cycle(politeness.proxies) if politeness.proxies else None
        self.breaker = breaker or new_breaker(politeness)
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self._session: Optional[requests.Session] = None

    def __enter__(self) -> "PoliteClient":
        self._session = requests.Session()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    @property
    def politeness(self) -> Politeness:
        """The client's settings."""
        return self._politeness

    def acquire(self, url: str) -> float:
        """Takes a token of ``url``'s host (blocks); returns the seconds waited."""
        return self._limiter.bucket(url).acquire()

    def pause_host(self, url: str, seconds: float) -> None:
        """Holds every further request to ``url``'s host for ``seconds``."""
        self._limiter.bucket(url).pause_until(time.monotonic() + seconds)

    def next_user_agent(self) -> str:
        """The next user agent of the rotation."""
        return next(self._agents)

    def next_proxy(self) -> Optional[str]:
        """The next proxy of the rotation, or None when going direct."""
        return next(self._proxies) if self._proxies else None

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        """One call with breaker, retries, rate limit, rotation and timeout.

        Raises:
            ScrapeError: Retries exhausted, a non-retryable refusal, or the circuit is open.
        """
        retrying = Retrying(
            stop=stop_after_attempt(self._politeness.max_attempts),
            wait=RetryAfterWait(self._politeness.backoff_initial_s, self._politeness.backoff_max_s),
            retry=retry_if_exception_type(RetryableError),
            before_sleep=self._before_retry, reraise=True)
        try:
            return self.breaker.call(retrying, self._attempt, method, url, **kwargs)
        except pybreaker.CircuitBreakerError as err:
            # pybreaker raises this instead of the failure that trips it: keep that one visible.
            last = err.__cause__ or err.__context__
            raise ScrapeError(
                f"{self.source}: circuit open after {self._politeness.breaker_fail_max} failed "
                f"calls in a row; next trial in up to {self._politeness.breaker_reset_s:.0f} s"
                + (f" (last error: {last})" if last else "")) from err

    def get(self, url: str, **kwargs) -> requests.Response:
        """``request("GET", ...)``."""
        return self.request("GET", url, **kwargs)

    def _before_retry(self, retry_state) -> None:
        metrics.inc(self.source, metrics.RETRIES)
        error = retry_state.outcome.exception()
        _LOGGER.warning("%s: attempt %d failed (%s); retrying in %.2f s", self.source,
                        retry_state.attempt_number, error, retry_state.upcoming_sleep)

    def _attempt(self, method: str, url: str, **kwargs) -> requests.Response:
        if self._session is None:
            raise RuntimeError("PoliteClient is used outside its 'with' block")
        self._limiter.bucket(url).acquire()
        headers = {"User-Agent": self.next_user_agent(), **kwargs.pop("headers", {})}
        proxy = self.next_proxy()
        proxies = {"http": proxy, "https": proxy} if proxy else None
        metrics.inc(self.source, metrics.REQUESTS)
        try:
            response = self._session.request(method, url, headers=headers, proxies=proxies,
                                             timeout=self._politeness.timeout_s, **kwargs)
        except (requests.Timeout, requests.ConnectionError) as err:
            raise RetryableError(f"{type(err).__name__} calling {urlsplit(url).netloc}") from err
        error = self._classify(response)
        if isinstance(error, ThrottledError):
            metrics.inc(self.source, metrics.THROTTLED)
            if error.retry_after is not None:
                self.pause_host(url, error.retry_after)
        if error is not None:
            raise error
        return response

    def check_robots(self, url: str) -> None:
        """Raises unless the host's robots.txt allows ``url`` for our agent.

        A robots.txt that is missing (4xx) allows everything, as the standard says.

        Raises:
            RobotsDisallowedError: The URL is disallowed.
        """
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        parser = self._robots.get(root)
        if parser is None:
            parser = urllib.robotparser.RobotFileParser(f"{root}/robots.txt")
            try:
                response = self.request("GET", f"{root}/robots.txt")
                parser.parse(response.text.splitlines())
            except SourceRequestError:
                parser.parse([])
            self._robots[root] = parser
        if not parser.can_fetch(ROBOTS_AGENT, url):
            raise RobotsDisallowedError(f"robots.txt of {root} disallows {parts.path} for "
                                        f"{ROBOTS_AGENT}; not scraping it")


def new_breaker(politeness: Politeness) -> pybreaker.CircuitBreaker:
    """A circuit breaker with the politeness settings (one per source and process)."""
    return pybreaker.CircuitBreaker(fail_max=politeness.breaker_fail_max,
                                    reset_timeout=politeness.breaker_reset_s,
                                    exclude=[RobotsDisallowedError])
