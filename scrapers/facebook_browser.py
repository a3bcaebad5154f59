"""Facebook ``--mode browser``: a page's public posts read from the rendered page with Playwright.

For merchants without Graph API access. The page is loaded in Chromium (Debian's, see
:mod:`sensory.scrapers.browser`), scrolled while new posts appear (newest first) until the
posts are older than the cursor or the scroll budget is spent, and every post is read from the
DOM. The selectors below are the only thing that knows the page's structure; when one matches
nothing the run stops with :class:`LayoutChangedError` naming it. A browser run cannot resume
mid-scroll: after a crash it starts again from the top (re-sends, never skips).
"""
import logging
import re
from datetime import datetime, timezone
from typing import Iterator, Optional

from sensory.scrapers import browser, metrics
from sensory.scrapers.browser import BrowserSettings
from sensory.scrapers.base import Entry, Page, to_utc
from sensory.scrapers.errors import LayoutChangedError, RetryableError
from sensory.scrapers.facebook import NAME, TOPIC
from sensory.scrapers.http import PoliteClient

_LOGGER = logging.getLogger(__name__)

ARTICLE = 'div[role="article"]'
# Within an article; a required one that is missing means the layout changed.
REQUIRED = {"link": 'a[href*="/posts/"]', "time": "abbr[data-utime]",
            "author": '[data-testid="post-author"]'}
OPTIONAL = {"message": '[data-ad-preview="message"]',
            "reactions": '[data-testid="reactions-count"]',
            "comments": '[data-testid="comments-count"]', "shares": '[data-testid="shares-count"]'}
_HASHTAG_RE = re.compile(r"#\w+", re.UNICODE)
_NUMBER_RE = re.compile(r"[\d,.]+\s*[KkMm]?")

_EXTRACT_JS = """([article, required, optional]) => Array.from(
  document.querySelectorAll(article)).map(a => {
    const out = {missing: []};
    for (const [name, sel] of Object.entries(required)) {
      const el = a.querySelector(sel);
      if (!el) { out.missing.push(sel); continue; }
      out[name] = name === "link" ? el.getAttribute("href")
                : name === "time" ? el.getAttribute("data-utime") : el.innerText;
    }
    for (const [name, sel] of Object.entries(optional)) {
      const el = a.querySelector(sel); out[name] = el ? el.innerText : null;
    }
    return out;
  })"""


def count(text: Optional[str]) -> Optional[int]:
    """``"1,234 comments"`` → 1234, ``"1.2K"`` → 1200; None when there is no number."""
    match = _NUMBER_RE.search(text or "")
    if not match:
        return None
    token = match.group(0).replace(",", "").strip()
    scale = {"k": 1_000, "m": 1_000_000}.get(token[-1].lower(), 1)
    try:
        return int(float(token.rstrip("KkMm ")) * scale)
    except ValueError:
        return None


def article_record(page_id: str, article: dict) -> dict:
    """A SocialPost record of one rendered article (gaps go on for the validator)."""
    post = article["link"].rstrip("/").rsplit("/", 1)[-1]
    likes, comments, shares = (count(article.get(k)) for k in ("reactions", "comments",
                                                                 "shares"))
    return {
        "platform": NAME, "post_id": f"{page_id}_{post}", "author": article.get("author"),
        "content": article.get("message"), "likes_count": likes, "comments_count": comments,
        "shares_count": shares,
        "engagement_count": sum(v for v in (likes, comments, shares) if v is not None),
        "posted_at": datetime.fromtimestamp(int(article["time"]), timezone.utc).isoformat(),
        "hashtags": _HASHTAG_RE.findall(article.get("message") or ""),
    }


class FacebookPageSource:
    """Pages (one per scroll batch) of a Facebook page's rendered posts.

    Args:
        client: Polite client (robots.txt, rate limit, user agent, proxy).
        base_url: ``https://www.facebook.com`` (or a fixture).
        page_name: The page's address, ``https://www.facebook.com/<page_name>``.
        page_id: Prefix of the records' ``post_id`` (``<page_id>_<post>``, as in the Graph API).
        settings: Browser settings (``contexts`` is not used: one page, one context).
    """

    name = NAME
    topic = TOPIC
    key_field = "post_id"

    def __init__(self, client: PoliteClient, *, base_url: str, page_name: str, page_id: str,
                 settings: BrowserSettings = BrowserSettings()):
        if not page_name or not page_id:
            raise ValueError("--mode browser needs --page_name and --page_id")
        self._client = client
        self._url = f"{base_url.rstrip('/')}/{page_name}"
        self._page_id = page_id
        self._settings = settings
        self.scope_id = page_id

    def pages(self, since: Optional[datetime], until: Optional[datetime],
              token: Optional[str]) -> Iterator[Page]:
        """Newest-first batches; stops at posts older than ``since`` or at the budget."""
        from playwright.sync_api import sync_playwright  # pylint: disable=import-outside-toplevel
        del token  # a rendered feed cannot be entered in the middle
        self._client.check_robots(self._url)
        self._client.acquire(self._url)
        timeout_ms = self._settings.page_timeout_s * 1000
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=browser.ensure_chromium(),
                                                  headless=self._settings.headless,
                                                  args=list(browser.LAUNCH_ARGS))
            try:
                proxy = self._client.next_proxy()
                context = chromium.new_context(user_agent=self._client.next_user_agent(),
                                               proxy={"server": proxy} if proxy else None)
                page = context.new_page()
                self._load(page, timeout_ms)
                try:
                    page.wait_for_selector(ARTICLE, timeout=timeout_ms)
                except Exception as err:  # playwright's TimeoutError
                    raise LayoutChangedError(ARTICLE, self._url, "no posts rendered") from err
                seen = 0
                for _ in range(self._settings.scroll_budget + 1):
                    articles = page.evaluate(_EXTRACT_JS, [ARTICLE, REQUIRED, OPTIONAL])
                    batch, skipped, older = [], 0, False
                    for article in articles[seen:]:
                        if article["missing"]:
                            raise LayoutChangedError(article["missing"][0], self._url,
                                                     f"inside {ARTICLE}")
                        record = article_record(self._page_id, article)
                        when = to_utc(datetime.fromisoformat(record["posted_at"]))
                        if (since and when < to_utc(since)) or (until and when >= to_utc(until)):
                            skipped += 1
                            older = older or bool(since and when < to_utc(since))
                            continue
                        batch.append(Entry(record["post_id"], when, [record]))
                    seen = len(articles)
                    yield Page(batch, None, skipped=skipped)
                    if older or not self._scroll(page, seen):
                        return
            finally:
                chromium.close()

    def _load(self, page, timeout_ms: float) -> None:
        """Navigates with the client's retry policy (429 with Retry-After, 5xx)."""
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt  # pylint: disable=import-outside-toplevel
        from sensory.scrapers.http import RetryAfterWait  # pylint: disable=import-outside-toplevel
        politeness = self._client.politeness
        for attempt in Retrying(stop=stop_after_attempt(politeness.max_attempts), reraise=True,
                                wait=RetryAfterWait(politeness.backoff_initial_s, politeness.backoff_max_s),
                                retry=retry_if_exception_type(RetryableError),
                                before_sleep=lambda _s: metrics.inc(NAME, metrics.RETRIES)):
            with attempt:
                metrics.inc(NAME, metrics.REQUESTS)
                response = page.goto(self._url, wait_until="domcontentloaded",
                                     timeout=timeout_ms)
                browser.check_response(response, self._url, NAME)

    def _scroll(self, page, seen: int) -> bool:
        """Scrolls once; True when more articles appeared."""
        page.mouse.wheel(0, 20000)
        try:
            page.wait_for_function(f"document.querySelectorAll('{ARTICLE}').length > {seen}",
                                   timeout=self._settings.scroll_timeout_s * 1000)
            return True
        except Exception:  # nothing more within the timeout: the end of the feed
            return False


