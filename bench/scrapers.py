"""Scraper throughput against the local fixtures, as ratios measured in one run.

1. Shopify items/s against a fixture that allows 2 requests/s (leaky bucket of 2, draining at
   2/s, 50 orders a page), as a ratio to that fixture's maximum (2 × 50 = 100 orders/s).
2. TikTok pages/min (one page = one target rendered and scrolled to its end) with 1 and with 4
   browser contexts of one Chromium, and their ratio.

Records go to an in-memory sender and cursor (Kafka and Redis are not part of what is measured).
Usage: ``python bench/scrapers.py [--orders 1500] [--targets 8]``
"""
import argparse
import os
import time

from sensory.scrapers.cursor import CursorState
from sensory.scrapers.fixtures.shopify import ShopifyFixture
from sensory.scrapers.fixtures.tiktok import TikTokFixture
from sensory.scrapers.http import PoliteClient, Politeness
from sensory.scrapers.runner import run_once
from sensory.scrapers.shopify import ShopifySource
from sensory.scrapers.tiktok import BrowserSettings, TikTokSource

PAGE = 50
FIXTURE_RATE = 2.0


class _Sender:
    def __init__(self):
        self.count = 0

    def send(self, _topic, keyed):
        self.count += len(keyed)


class _Cursors:
    def __init__(self):
        self.states = {}

    def load(self, key):
        return self.states.get(key, CursorState())

    def save(self, key, state):
        self.states[key] = state


def bench_shopify(orders: int) -> tuple[float, float]:
    """Orders/s through the scraper and the fixture's maximum orders/s."""
    server = ShopifyFixture(orders=orders, capacity=2, leak_per_s=FIXTURE_RATE).start_in_thread()
    try:
        with PoliteClient("shopify", Politeness(rate_per_s=FIXTURE_RATE, burst=2)) as client:
            source = ShopifySource(client, shop_url=server.base_url,
                                   access_token=server.access_token, page_limit=PAGE)
            summary = run_once(source, _Sender(), _Cursors())
        throttled = sum(1 for *_, status in server.api_requests if status == 429)
        print(f"shopify: {summary.fetched} orders in {summary.pages} pages, "
              f"{summary.elapsed_s:.1f} s, {throttled} x 429")
        return summary.fetched / summary.elapsed_s, FIXTURE_RATE * PAGE
    finally:
        server.stop()


def bench_tiktok(targets: int, contexts: int) -> float:
    """Target pages per minute with ``contexts`` browser contexts."""
    server = TikTokFixture(posts_per_target=36).start_in_thread()
    try:
        names = [f"@shop{n}_{contexts}" for n in range(targets)]
        with PoliteClient("tiktok", Politeness(rate_per_s=50, burst=10)) as client:
            source = TikTokSource(client, base_url=server.base_url, targets=names,
                                  settings=BrowserSettings(contexts=contexts, scroll_timeout_s=3))
            began = time.monotonic()
            summary = run_once(source, _Sender(), _Cursors())
            elapsed = time.monotonic() - began
        assert summary.fetched == 36 * targets, summary.line()
        print(f"tiktok x{contexts}: {summary.pages} pages, {summary.fetched} items, {elapsed:.1f} s")
        return summary.pages / elapsed * 60
    finally:
        server.stop()


def main() -> None:
    """Runs both benchmarks and prints the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1500)
    parser.add_argument("--targets", type=int, default=8)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}")
    rate, ceiling = bench_shopify(args.orders)
    one = bench_tiktok(args.targets, 1)
    four = bench_tiktok(args.targets, 4)
    print(f"load after: {os.getloadavg()}")
    print(f"SHOPIFY items/s {rate:.1f} vs fixture max {ceiling:.0f} -> ratio {rate / ceiling:.2f}")
    print(f"TIKTOK pages/min 1 context {one:.1f}, 4 contexts {four:.1f} -> ratio {four / one:.2f}")


if __name__ == "__main__":
    main()
