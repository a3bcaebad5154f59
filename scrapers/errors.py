"""Exceptions the scrapers raise; the runner and the CLI turn them into clear messages."""
from typing import Optional


class ScrapeError(RuntimeError):
    """A scrape run failed; the cursor was not advanced past what Kafka acknowledged."""


class RetryableError(ScrapeError):
    """A transient failure (5xx, timeout, throttling) worth another attempt.

    Attributes:
        retry_after: Seconds the source asked us to wait, or None to use backoff.
    """

    def __init__(self, message: str, retry_after: Optional[float] = None):
        super().__init__(message)
        self.retry_after = retry_after


class ThrottledError(RetryableError):
    """The source said we are too fast (HTTP 429 or its own rate-limit error code)."""


class SourceAuthError(ScrapeError):
    """Bad or expired credentials (e.g. Graph code 190, Daraz IllegalAccessToken); no retry."""


class SourceRequestError(ScrapeError):
    """The source refused the request itself (4xx, a signature error); no retry."""


class LayoutChangedError(ScrapeError):
    """A page no longer has the structure the scraper relies on.

    Attributes:
        selector: The selector or JSON path that matched nothing.
        url: The page it was looked for on.
    """

    def __init__(self, selector: str, url: str, detail: str = ""):
        super().__init__(f"page layout changed: selector {selector!r} matched nothing on {url}"
                         + (f" ({detail})" if detail else "")
                         + "; the scraper's selectors need updating")
        self.selector = selector
        self.url = url


class RobotsDisallowedError(ScrapeError):
    """robots.txt of the host disallows the URL for our user agent."""


class DeliveryError(ScrapeError):
    """Kafka did not acknowledge every message of a batch."""
