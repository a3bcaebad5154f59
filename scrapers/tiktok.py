"""TikTok: public profile (``@user``) and hashtag (``#tag``) pages rendered with Playwright.

Per target the scraper loads the page in a browser context, checks that the post tiles
(``[data-e2e="user-post-item"]``) rendered, reads the first items from the embedded
``__UNIVERSAL_DATA_FOR_REHYDRATION__`` JSON, then scrolls (a per-target scroll budget) and reads
each further batch from the page's own ``/api/post/item_list/`` responses. Class names are
never used (they are hashed per build). If a selector or JSON path the scraper relies on is
missing the run stops with :class:`LayoutChangedError` naming it. Several targets are scraped
in parallel browser contexts of one Chromium; results are handed over in target order so that
the cursor (index of the next target) stays exact.
"""
import asyncio
import json
import logging
import queue
import threading
from datetime import datetime, timezone
from typing import Iterator, Optional, Sequence
from urllib.parse import quote

from sensory.scrapers import browser, metrics
from sensory.scrapers.browser import BrowserSettings
from sensory.scrapers.base import Entry, Page, to_utc
from sensory.scrapers.errors import LayoutChangedError, RetryableError
from sensory.scrapers.http import PoliteClient
from sensory.topics import SOCIAL_SOURCE_TOPICS

_LOGGER = logging.getLogger(__name__)

NAME = "tiktok"
TOPIC = "source.social.tiktok"
assert TOPIC in SOCIAL_SOURCE_TOPICS
DEFAULT_BASE_URL = "https://www.tiktok.com"
ITEM_SELECTOR = '[data-e2e="user-post-item"]'
DATA_SELECTOR = "script#__UNIVERSAL_DATA_FOR_REHYDRATION__"
DATA_PATH = ("__DEFAULT_SCOPE__", "webapp.video-list", "itemList")
ITEM_API = "/api/post/item_list/"


def target_url(base_url: str, target: str) -> str:
    """``@user`` → ``/@user``; ``#tag`` → ``/tag/tag``."""
    base = base_url.rstrip("/")
    if target.startswith("@"):
        return f"{base}/@{quote(target[1:])}"
    if target.startswith("#"):
        return f"{base}/tag/{quote(target[1:])}"
    raise ValueError(f"target {target!r}: expected @user or #hashtag")


def item_record(item: dict) -> dict:
    """A SocialPost record of one TikTok item (lenient: gaps go on for the validator)."""
    stats = item.get("stats") or {}
    likes, comments, shares = (stats.get(k, 0) for k in ("diggCount", "commentCount",
                                                           "shareCount"))
    created = item.get("createTime")
    try:
        posted = datetime.fromtimestamp(int(created), timezone.utc).isoformat()
    except (TypeError, ValueError):
        posted = created
    record = {
        "platform": NAME, "post_id": item.get("id"),
        "author": (item.get("author") or {}).get("uniqueId"), "content": item.get("desc"),
        "likes_count": likes, "comments_count": comments, "shares_count": shares,
        "engagement_count": sum(v for v in (likes, comments, shares) if isinstance(v, int)),
        "posted_at": posted,
        "hashtags": [f"#{c['title']}" for c in item.get("challenges") or [] if c.get("title")],
    }
    city = (item.get("poi") or {}).get("city")
    if city:
        record["location"] = city
    return record


def _item_time(item: dict) -> Optional[datetime]:
    try:
        return datetime.fromtimestamp(int(item.get("createTime")), timezone.utc)
    except (TypeError, ValueError):
        return None


class TikTokSource:
    """Pages (one per target) of TikTok items.

    Args:
        client: The source's polite client: robots.txt, rate limit, user agents, proxies.
        base_url: Site root (``https://www.tiktok.com`` or a fixture).
        targets: ``@user`` and ``#hashtag`` targets, scraped in this order.
        settings: Browser settings.
    """

    name = NAME
    topic = TOPIC
    key_field = "post_id"

    def __init__(self, client: PoliteClient, *, base_url: str, targets: Sequence[str],
                 settings: BrowserSettings = BrowserSettings()):
        if not targets:
            raise ValueError("give at least one --target (@user or #hashtag)")
        self._urls = [target_url(base_url, t) for t in targets]
        self.scope_id = ",".join(sorted(targets))
        self._client = client
        self._settings = settings
        self._attempts = client.politeness.max_attempts

    def pages(self, since: Optional[datetime], until: Optional[datetime],
              token: Optional[str]) -> Iterator[Page]:
        """One page per target from target number ``token`` (None: 0)."""
        start = int(token or 0)
        urls = self._urls[start:]
        for url in urls:
            self._client.check_robots(url)
        results: "queue.Queue" = queue.Queue()
        stop = threading.Event()
        worker = threading.Thread(target=self._run_browser, args=(urls, results, stop),
                                  name="tiktok-browser", daemon=True)
        worker.start()
        pending: dict[int, object] = {}
        try:
            for position in range(len(urls)):
                while position not in pending:
                    index, outcome = results.get()
                    if index is None:  # the browser itself failed (launch, crash)
                        raise outcome
                    pending[index] = outcome
                outcome = pending.pop(position)
                if isinstance(outcome, Exception):
                    raise outcome
                entries, skipped = [], 0
                for item in outcome:
                    when = _item_time(item)
                    if when is not None and ((since and when < to_utc(since))
                                             or (until and when >= to_utc(until))):
                        skipped += 1
                        continue
                    entries.append(Entry(str(item.get("id")), when, [item_record(item)]))
                done = start + position + 1
                yield Page(entries, str(done) if done < len(self._urls) else None,
                           skipped=skipped)
        finally:
            stop.set()
            worker.join(timeout=60)

    def _run_browser(self, urls: list[str], results: "queue.Queue",
                     stop: threading.Event) -> None:
        try:
            asyncio.run(self._scrape(urls, results, stop))
        except Exception as err:  # pylint: disable=broad-except
            results.put((None, err))  # the consumer must not wait forever

    async def _scrape(self, urls: list[str], results: "queue.Queue",
                      stop: threading.Event) -> None:
        from playwright.async_api import async_playwright  # pylint: disable=import-outside-toplevel
        work: asyncio.Queue = asyncio.Queue()
        for index, url in enumerate(urls):
            work.put_nowait((index, url))
        async with async_playwright() as playwright:
            chromium = await playwright.chromium.launch(
                executable_path=browser.ensure_chromium(), headless=self._settings.headless,
                args=list(browser.LAUNCH_ARGS))
            try:
                await asyncio.gather(*(self._worker(chromium, work, results, stop)
                                       for _ in range(max(1, self._settings.contexts))))
            finally:
                await chromium.close()

    async def _worker(self, chromium, work: asyncio.Queue, results: "queue.Queue",
                      stop: threading.Event) -> None:
        proxy = self._client.next_proxy()
        context = await chromium.new_context(
            user_agent=self._client.next_user_agent(),
            proxy={"server": proxy} if proxy else None)
        try:
            while not work.empty() and not stop.is_set():
                index, url = work.get_nowait()
                try:
                    results.put((index, await self._with_retries(context, url)))
                except Exception as err:  # pylint: disable=broad-except
                    results.put((index, err))  # raised in the consumer, in target order
                    stop.set()
        finally:
            await context.close()

    async def _with_retries(self, context, url: str) -> list[dict]:
        from tenacity import (AsyncRetrying, retry_if_exception_type,  # pylint: disable=import-outside-toplevel
                              stop_after_attempt)
        from sensory.scrapers.http import RetryAfterWait  # pylint: disable=import-outside-toplevel
        politeness = self._client.politeness
        async for attempt in AsyncRetrying(
                stop=stop_after_attempt(politeness.max_attempts), reraise=True,
                wait=RetryAfterWait(politeness.backoff_initial_s, politeness.backoff_max_s),
                retry=retry_if_exception_type(RetryableError),
                before_sleep=lambda state: metrics.inc(NAME, metrics.RETRIES)):
            with attempt:
                return await self._scrape_target(context, url)
        return []

    async def _scrape_target(self, context, url: str) -> list[dict]:
        await asyncio.get_running_loop().run_in_executor(None, self._client.acquire, url)
        page = await context.new_page()
        timeout_ms = self._settings.page_timeout_s * 1000
        try:
            metrics.inc(NAME, metrics.REQUESTS)
            response = await page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
            browser.check_response(response, url, NAME)
            try:
                await page.wait_for_selector(ITEM_SELECTOR, timeout=timeout_ms)
            except Exception as err:  # playwright's TimeoutError
                raise LayoutChangedError(ITEM_SELECTOR, url, "no post tiles rendered") from err
            items = _embedded_items(await page.locator(DATA_SELECTOR).all_text_contents(), url)
            more = True
            for _ in range(self._settings.scroll_budget):
                if not more:
                    break
                try:
                    async with page.expect_response(lambda r: ITEM_API in r.url,
                                                    timeout=self._settings.scroll_timeout_s
                                                    * 1000) as info:
                        await page.mouse.wheel(0, 20000)
                    response = await info.value
                except Exception:  # nothing loaded within the timeout: the end of the list
                    break
                metrics.inc(NAME, metrics.REQUESTS)
                browser.check_response(response, url, NAME)
                body = await response.json()
                if "itemList" not in body:
                    raise LayoutChangedError(f"{ITEM_API} itemList", url, "API answer changed")
                items.extend(body["itemList"])
                more = bool(body.get("hasMore"))
            return items
        finally:
            await page.close()


def _embedded_items(texts: list[str], url: str) -> list[dict]:
    if not texts:
        raise LayoutChangedError(DATA_SELECTOR, url, "no embedded item data")
    try:
        node = json.loads(texts[0])
        for key in DATA_PATH:
            node = node[key]
    except (ValueError, KeyError, TypeError) as err:
        raise LayoutChangedError(f"{DATA_SELECTOR} → {'.'.join(DATA_PATH)}", url,
                                 "embedded JSON changed") from err
    return list(node)
