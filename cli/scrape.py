"""``sensory scrape shopify|daraz|facebook|tiktok``: sources onto their source topics."""
import contextlib
import os
from datetime import datetime
from typing import Callable, Optional

import click

from sensory import endpoints
from sensory.scrapers.base import Window, to_utc
from sensory.scrapers.errors import ScrapeError
from sensory.scrapers.http import Politeness, read_proxies
from sensory.scrapers.service import ScrapeSettings, parse_every, scrape as run_scrape


def _when(_ctx, param, value: Optional[str]) -> Optional[datetime]:
    if value is None:
        return None
    try:
        return to_utc(datetime.fromisoformat(value))
    except ValueError as err:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 date or date-time",
                                 param=param) from err


def _common(command: Callable) -> Callable:
    """The options every source shares (schedule, window, Kafka, Redis, politeness)."""
    options = [
        click.option("--once", "once", is_flag=True, default=False,
                     help="Run once and exit (the default unless --every is given)."),
        click.option("--every", default=None, help="Run every DURATION (30s, 15m, 1h) until "
                     "stopped."),
        click.option("--runs", type=int, default=None, help="With --every: stop after N runs."),
        click.option("--since", callback=_when, default=None,
                     help="Backfill from this ISO time (own resumable cursor per window)."),
        click.option("--until", callback=_when, default=None,
                     help="Backfill up to this ISO time (exclusive)."),
        click.option("--max-items", "max_items", type=click.IntRange(min=1), default=None,
                     help="Stop a run after this many records; the next run continues."),
        click.option("--topic", default=None, help="Topic instead of the source's topic."),
        click.option("--bootstrap_servers", default=endpoints.kafka_bootstrap,
                     show_default="127.0.0.1:$SENSORY_KAFKA_PORT"),
        click.option("--redis_url", default=endpoints.redis_url,
                     show_default="the stack's Redis (sensory.endpoints.redis_url())",
                     help="Where the per-source cursor lives."),
        click.option("--reset_cursor", is_flag=True, default=False,
                     help="Forget the cursor first (re-sends everything in the window)."),
        click.option("--rate", type=float, default=2.0, show_default=True,
                     help="Requests per second per host (token bucket)."),
        click.option("--burst", type=float, default=2.0, show_default=True,
                     help="Token bucket capacity."),
        click.option("--timeout_s", type=float, default=30.0, show_default=True,
                     help="Timeout of every call."),
        click.option("--max_attempts", type=int, default=6, show_default=True,
                     help="Attempts per call (backoff with jitter, Retry-After honoured)."),
        click.option("--backoff_s", type=float, default=1.0, show_default=True,
                     help="First backoff; doubles per attempt."),
        click.option("--proxies", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="File of proxy URLs, one a line, rotated per request."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _settings(kwargs: dict) -> ScrapeSettings:
    if kwargs["once"] and kwargs["every"]:
        raise click.UsageError("give --once or --every, not both")
    try:
        every_s = parse_every(kwargs["every"]) if kwargs["every"] else None
        politeness = Politeness(
            rate_per_s=kwargs["rate"], burst=kwargs["burst"], timeout_s=kwargs["timeout_s"],
            max_attempts=kwargs["max_attempts"], backoff_initial_s=kwargs["backoff_s"],
            proxies=read_proxies(kwargs["proxies"]) if kwargs["proxies"] else ())
        window = Window(kwargs["since"], kwargs["until"])
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    if window.since and window.until and window.since >= window.until:
        raise click.UsageError("--since must be before --until")
    return ScrapeSettings(
        bootstrap_servers=kwargs["bootstrap_servers"], redis_url=kwargs["redis_url"],
        window=window, max_items=kwargs["max_items"], topic=kwargs["topic"], every_s=every_s,
        runs=kwargs["runs"], reset_cursor=kwargs["reset_cursor"], politeness=politeness)


def _run(name: str, open_source, kwargs: dict, **extra) -> None:
    settings = _settings(kwargs)
    try:
        run_scrape(name, open_source, settings, echo=click.echo, **extra)
    except (ScrapeError, ValueError) as err:
        raise click.ClickException(str(err)) from err


def _secret(value: Optional[str], variable: str) -> Optional[str]:
    return value or os.environ.get(variable)


@click.group(name="scrape")
def scrape() -> None:
    """Scrape a source onto its source topic (incremental, resumable, rate-limited)."""


@scrape.command()
@_common
@click.option("--shop_url", envvar="SHOPIFY_SHOP_URL", required=True,
              help="https://<shop>.myshopify.com (or a fixture's URL). $SHOPIFY_SHOP_URL.")
@click.option("--access_token", default=None,
              help="Admin API token; default $SHOPIFY_ACCESS_TOKEN (prefer the variable).")
@click.option("--merchant_id", default=None, help="merchant_id of the records (default: shop host).")
def shopify(shop_url: str, access_token: Optional[str], merchant_id: Optional[str], **kwargs):
    """Shopify orders (Admin REST API) onto source.market.shopify."""
    from sensory.scrapers.shopify import ShopifySource  # pylint: disable=import-outside-toplevel
    token = _secret(access_token, "SHOPIFY_ACCESS_TOKEN")
    _run("shopify", lambda client: contextlib.nullcontext(ShopifySource(
        client, shop_url=shop_url, access_token=token, merchant_id=merchant_id)), kwargs)


@scrape.command()
@_common
@click.option("--api_url", envvar="DARAZ_API_URL", default="https://api.daraz.com.bd/rest",
              show_default=True, help="Open Platform gateway. $DARAZ_API_URL.")
@click.option("--app_key", envvar="DARAZ_APP_KEY", default=None, help="$DARAZ_APP_KEY.")
@click.option("--app_secret", default=None, help="Default $DARAZ_APP_SECRET (prefer it).")
@click.option("--access_token", default=None, help="Default $DARAZ_ACCESS_TOKEN.")
@click.option("--seller_id", envvar="DARAZ_SELLER_ID", default=None,
              help="merchant_id of the records. $DARAZ_SELLER_ID.")
def daraz(api_url: str, app_key: Optional[str], app_secret: Optional[str],
          access_token: Optional[str], seller_id: Optional[str], **kwargs):
    """Daraz orders (Open Platform /orders/get, signed) onto source.market.daraz."""
    from sensory.scrapers import daraz as daraz_source  # pylint: disable=import-outside-toplevel
    secret = _secret(app_secret, "DARAZ_APP_SECRET")
    token = _secret(access_token, "DARAZ_ACCESS_TOKEN")
    _run("daraz", lambda client: contextlib.nullcontext(daraz_source.DarazSource(
        client, api_url=api_url, app_key=app_key, app_secret=secret, access_token=token,
        merchant_id=seller_id)), kwargs, classify=daraz_source.classify)


@scrape.command()
@_common
@click.option("--mode", type=click.Choice(["api", "browser"]), default="api", show_default=True,
              help="Graph API, or the public page rendered with Playwright (no API access).")
@click.option("--graph_url", envvar="FACEBOOK_GRAPH_URL",
              default="https://graph.facebook.com/v19.0", show_default=True,
              help="Graph API root with version. $FACEBOOK_GRAPH_URL.")
@click.option("--page_id", envvar="FACEBOOK_PAGE_ID", required=True, help="$FACEBOOK_PAGE_ID.")
@click.option("--access_token", default=None, help="Default $FACEBOOK_ACCESS_TOKEN (api mode).")
@click.option("--base_url", envvar="FACEBOOK_BASE_URL", default="https://www.facebook.com",
              show_default=True, help="Site root (browser mode). $FACEBOOK_BASE_URL.")
@click.option("--page_name", envvar="FACEBOOK_PAGE_NAME", default=None,
              help="The page's web address name (browser mode). $FACEBOOK_PAGE_NAME.")
@click.option("--scroll_budget", type=click.IntRange(0), default=20, show_default=True,
              help="Most infinite-scroll loads (browser mode).")
def facebook(mode: str, graph_url: str, page_id: str, access_token: Optional[str], base_url: str,
             page_name: Optional[str], scroll_budget: int, **kwargs):
    """Facebook page posts (Graph API, or --mode browser) onto source.social.facebook."""
    from sensory.scrapers import facebook as fb  # pylint: disable=import-outside-toplevel
    if mode == "browser":
        from sensory.scrapers.facebook_browser import FacebookPageSource  # pylint: disable=import-outside-toplevel
        from sensory.scrapers.tiktok import BrowserSettings  # pylint: disable=import-outside-toplevel
        settings = BrowserSettings(scroll_budget=scroll_budget, page_timeout_s=kwargs["timeout_s"])
        _run("facebook", lambda client: contextlib.nullcontext(FacebookPageSource(
            client, base_url=base_url, page_name=page_name, page_id=page_id,
            settings=settings)), kwargs)
        return
    token = _secret(access_token, "FACEBOOK_ACCESS_TOKEN")
    _run("facebook", lambda client: contextlib.nullcontext(fb.FacebookSource(
        client, graph_url=graph_url, page_id=page_id, access_token=token)), kwargs,
         classify=fb.classify)


@scrape.command()
@_common
@click.option("--base_url", envvar="TIKTOK_BASE_URL", default="https://www.tiktok.com",
              show_default=True, help="Site root (a fixture's URL in tests). $TIKTOK_BASE_URL.")
@click.option("--target", "targets", multiple=True, required=True,
              help="@user or #hashtag; repeat for several.")
@click.option("--contexts", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Browser contexts scraping targets in parallel.")
@click.option("--scroll_budget", type=click.IntRange(0), default=20, show_default=True,
              help="Most infinite-scroll loads per target (the page budget).")
def tiktok(base_url: str, targets: tuple[str, ...], contexts: int, scroll_budget: int, **kwargs):
    """TikTok profile / hashtag pages (Playwright + Debian's chromium) onto source.social.tiktok."""
    from sensory.scrapers.tiktok import BrowserSettings, TikTokSource  # pylint: disable=import-outside-toplevel
    settings = BrowserSettings(contexts=contexts, scroll_budget=scroll_budget,
                               page_timeout_s=kwargs["timeout_s"])
    _run("tiktok", lambda client: contextlib.nullcontext(TikTokSource(
        client, base_url=base_url, targets=list(targets), settings=settings)), kwargs)
