"""Shopify: orders from the Admin REST API, mapped to MarketOrder (one record per line item).

Why REST and not GraphQL: the orders endpoint with ``updated_at_min`` + ``order=updated_at asc``
and ``Link``-header cursors is exactly the incremental read we need, its throttle is a simple
leaky bucket we can read from ``X-Shopify-Shop-Api-Call-Limit`` before we hit it, and a page is
plain JSON that maps line by line. GraphQL's cost-based throttle pays off for nested queries we
do not make. (Shopify marks REST "legacy" for new public apps; custom apps, which is what a
merchant installs for this, keep it — the client is small enough to port if that changes.)
"""
import logging
from datetime import datetime
from typing import Any, Iterator, Optional

import requests

from sensory.scrapers.base import Entry, Page, parse_time, to_utc
from sensory.scrapers.http import PoliteClient
from sensory.topics import MARKET_SOURCE_TOPICS

_LOGGER = logging.getLogger(__name__)

NAME = "shopify"
TOPIC = "source.market.shopify"
assert TOPIC in MARKET_SOURCE_TOPICS
API_VERSION = "2024-10"
PAGE_LIMIT = 250
LEAK_PER_S = 2.0  # Shopify's standard plan drains the call bucket at 2 calls/s


def order_records(order: dict, merchant_id: str) -> list[dict]:
    """MarketOrder records of one Admin API order, one per line item.

    Mapping is lenient: a missing or odd value is passed on as it is, so the pipeline's
    validator dead-letters the record with the exact reason instead of the scraper guessing.
    """
    shipping = order.get("shipping_address") or {}
    buyer = order.get("customer") or {}
    name = " ".join(filter(None, (shipping.get("first_name") or buyer.get("first_name"),
                                  shipping.get("last_name") or buyer.get("last_name")))) or None
    if order.get("cancelled_at"):
        status = "cancelled"
    else:
        status = order.get("fulfillment_status") or order.get("financial_status")
    gateways = order.get("payment_gateway_names") or []
    common = {
        "platform": NAME, "order_id": _text(order.get("id")), "merchant_id": merchant_id,
        "currency": order.get("currency") or "BDT", "order_status": status,
        "payment_method": gateways[0] if gateways else None,
        "customer_phone": order.get("phone") or shipping.get("phone") or buyer.get("phone"),
        "customer_email": order.get("email") or buyer.get("email"), "customer_name": name,
        "shipping_city": shipping.get("city"), "shipping_region": shipping.get("province"),
        "created_at": order.get("created_at"),
    }
    lines = order.get("line_items") or [{}]
    return [{**common,
             "product_id": _text(line.get("product_id") or line.get("variant_id")
                                 or line.get("sku")),
             "product_name": line.get("title") or line.get("name"),
             "quantity": line.get("quantity"), "unit_price": _number(line.get("price"))}
            for line in lines]


def _text(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def _number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value  # the validator names the bad value's field


class ShopifySource:
    """Pages of a shop's orders updated in a window.

    Args:
        client: The source's polite HTTP client (open).
        shop_url: ``https://<shop>.myshopify.com`` (or the fixture's URL).
        access_token: Admin API access token (``X-Shopify-Access-Token``).
        merchant_id: ``merchant_id`` of the records; default: the shop's host name.
        page_limit: Orders per page (max 250).
    """

    name = NAME
    topic = TOPIC
    key_field = "order_id"

    def __init__(self, client: PoliteClient, *, shop_url: str, access_token: str,
                 merchant_id: Optional[str] = None, page_limit: int = PAGE_LIMIT):
        if not access_token:
            raise ValueError("a Shopify Admin API access token is required "
                             "(--access_token or SHOPIFY_ACCESS_TOKEN)")
        if not 1 <= page_limit <= 250:
            raise ValueError(f"page_limit must be 1..250, got {page_limit}")
        self._client = client
        self._root = shop_url.rstrip("/")
        self._token = access_token
        self._merchant = merchant_id or requests.utils.urlparse(self._root).netloc
        self._limit = page_limit
        self.scope_id = requests.utils.urlparse(self._root).netloc  # one cursor per shop

    def first_url(self, since: Optional[datetime], until: Optional[datetime]) -> str:
        """The first page's URL for a window."""
        params = {"status": "any", "limit": self._limit, "order": "updated_at asc"}
        if since is not None:
            params["updated_at_min"] = to_utc(since).isoformat()
        if until is not None:
            params["updated_at_max"] = to_utc(until).isoformat()
        return requests.Request("GET", f"{self._root}/admin/api/{API_VERSION}/orders.json",
                                params=params).prepare().url

    def pages(self, since: Optional[datetime], until: Optional[datetime],
              token: Optional[str]) -> Iterator[Page]:
        """Pages from ``token`` (a next-page URL) or from the window's first page."""
        url = token or self.first_url(since, until)
        while url:
            response = self._client.get(url, headers={"X-Shopify-Access-Token": self._token,
                                                      "Accept": "application/json"})
            self._pace(url, response.headers.get("X-Shopify-Shop-Api-Call-Limit"))
            orders = response.json().get("orders", [])
            url = response.links.get("next", {}).get("url")
            entries, unmappable = [], 0
            for order in orders:
                if not isinstance(order, dict):
                    unmappable += 1
                    continue
                entries.append(Entry(str(order.get("id")), parse_time(order.get("updated_at")),
                                     order_records(order, self._merchant)))
            yield Page(entries, url, unmappable)

    def _pace(self, url: str, call_limit: Optional[str]) -> None:
        """Waits out the leaky bucket before it overflows instead of collecting 429s."""
        try:
            used, capacity = (int(part) for part in (call_limit or "").split("/"))
        except ValueError:
            return
        # The next call overflows the bucket unless it has drained by one call first.
        if used + 1 > capacity:
            self._client.pause_host(url, (used + 1 - capacity) / LEAK_PER_S)
