"""Chromium for Playwright: Debian's ``chromium`` package, installed when missing.

Playwright's own browser download (``playwright install``) cannot reach its CDN from our
machines, so the scrapers launch the distribution's Chromium with ``executable_path``.
"""
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional

from sensory.scrapers import metrics
from sensory.scrapers.errors import RetryableError, ThrottledError
from sensory.scrapers.http import retry_after_seconds

_LOGGER = logging.getLogger(__name__)

CANDIDATES = ("chromium", "chromium-browser")
LAUNCH_ARGS = ("--no-sandbox", "--disable-dev-shm-usage")  # root in containers has no sandbox


@dataclass(frozen=True)
class BrowserSettings:
    """How the page scraper drives Chromium.

    Attributes:
        contexts: Browser contexts (parallel targets).
        scroll_budget: Most scroll loads per target (the page budget).
        page_timeout_s: Timeout of navigation and of waiting for the tiles.
        scroll_timeout_s: How long a scroll may take to load the next batch.
        headless: Run without a window.
    """

    contexts: int = 1
    scroll_budget: int = 20
    page_timeout_s: float = 30.0
    scroll_timeout_s: float = 5.0
    headless: bool = True


def find_chromium() -> Optional[str]:
    """``$SENSORY_CHROMIUM`` or the first Chromium on ``PATH``; None when there is none."""
    configured = os.environ.get("SENSORY_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_chromium() -> str:
    """The Chromium executable, installing Debian's package first if it is missing.

    Raises:
        RuntimeError: No Chromium and it could not be installed (not root, no apt-get).
    """
    configured = os.environ.get("SENSORY_CHROMIUM")
    if configured and not os.access(configured, os.X_OK):
        raise RuntimeError(f"SENSORY_CHROMIUM={configured} is not an executable Chromium")
    found = find_chromium()
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        _LOGGER.warning("chromium not found; installing Debian's chromium package (once)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env,
                       timeout=1200)
        found = find_chromium()
        if found:
            return found
    raise RuntimeError("Chromium is needed for the page scrapers: install Debian's 'chromium' "
                       "package (apt-get install -y chromium) or set SENSORY_CHROMIUM")


def check_response(response, url: str, source: str) -> None:
    """Turns a page load's HTTP status into the retry decisions of ``PoliteClient``.

    Args:
        response: Playwright's response of the navigation or request (None: no network load).
        url: What was loaded, for the error message.
        source: The scraper's name, for the throttling counter.

    Raises:
        ThrottledError: HTTP 429, with the server's ``Retry-After``.
        RetryableError: HTTP 5xx.
    """
    if response is None:
        return
    if response.status == 429:
        metrics.inc(source, metrics.THROTTLED)
        raise ThrottledError(f"HTTP 429 on {url}",
                             retry_after_seconds(response.headers.get("retry-after")))
    if response.status >= 500:
        raise RetryableError(f"HTTP {response.status} on {url}")
