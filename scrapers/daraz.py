"""Daraz: orders from the Lazada/Daraz Open Platform (``/orders/get``), mapped to MarketOrder.

Orders page by ``offset`` over ``update_after`` sorted by ``updated_at`` ascending; their lines
come from ``/orders/items/get`` (one row per unit, aggregated here by SKU into a quantity). Every
request is signed (see :mod:`sensory.scrapers.daraz_sign`). Errors arrive as HTTP 200 with a
non-"0" ``code``; :func:`classify` maps them onto the retry policy.
"""
import json
import re
import time
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

import requests

from sensory.scrapers import daraz_sign
from sensory.scrapers.base import Entry, Page, to_utc
from sensory.scrapers.errors import SourceAuthError, SourceRequestError, ThrottledError
from sensory.scrapers.http import PoliteClient, default_classify
from sensory.topics import MARKET_SOURCE_TOPICS

NAME = "daraz"
TOPIC = "source.market.daraz"
assert TOPIC in MARKET_SOURCE_TOPICS
DEFAULT_API_URL = "https://api.daraz.com.bd/rest"
PAGE_LIMIT = 50  # /orders/items/get takes at most 50 order ids
# Daraz requires a lower bound; a first run without --since starts at the platform's launch.
EARLIEST = datetime(2015, 1, 1, tzinfo=timezone.utc)
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"
_AUTH_CODES = {"IllegalAccessToken", "InvalidAccessToken", "AccessTokenExpired", "InvalidAppKey"}
_BAN_RE = re.compile(r"(\d+)\s*seconds?")


def classify(response: requests.Response) -> Optional[Exception]:
    """HTTP errors as usual; then the gateway's ``code``: ApiCallLimit → throttled, ..."""
    error = default_classify(response)
    if error is not None:
        return error
    try:
        body = response.json()
    except ValueError:
        return SourceRequestError(f"Daraz answered something that is not JSON "
                                  f"({response.headers.get('Content-Type')})")
    code = str(body.get("code", "0")) if isinstance(body, dict) else "0"
    if code == "0":
        return None
    message = body.get("message", "")
    if code == "ApiCallLimit":
        ban = _BAN_RE.search(message)
        return ThrottledError(f"Daraz ApiCallLimit: {message}",
                              float(ban.group(1)) if ban else None)
    if code in _AUTH_CODES:
        return SourceAuthError(f"Daraz {code}: {message}")
    return SourceRequestError(f"Daraz {code}: {message} (request_id {body.get('request_id')})")


def parse_daraz_time(text: Any) -> Optional[datetime]:
    """``2025-11-01 12:00:00 +0600`` → aware UTC datetime; None when unreadable."""
    try:
        return to_utc(datetime.strptime(str(text), _TIME_FORMAT))
    except ValueError:
        return None


def order_records(order: dict, items: list[dict], merchant_id: str) -> list[dict]:
    """MarketOrder records of one order, one per SKU with the units counted as quantity."""
    shipping = order.get("address_shipping") or {}
    created = parse_daraz_time(order.get("created_at"))
    statuses = order.get("statuses") or [None]
    name = " ".join(filter(None, (order.get("customer_first_name"),
                                  order.get("customer_last_name")))) or None
    common = {
        "platform": NAME, "order_id": str(order.get("order_id")), "merchant_id": merchant_id,
        "order_status": statuses[0], "payment_method": order.get("payment_method"),
        "customer_phone": shipping.get("phone"), "customer_name": name,
        "shipping_city": shipping.get("city"), "shipping_region": shipping.get("address3"),
        # An unreadable time is passed on as it came, so the validator names it.
        "created_at": created.isoformat() if created else order.get("created_at"),
    }
    lines: dict[str, dict] = {}
    for item in items or [{}]:
        sku = str(item.get("sku") or item.get("shop_sku") or item.get("product_id"))
        line = lines.setdefault(sku, {
            **common, "product_id": sku, "product_name": item.get("name"), "quantity": 0,
            "unit_price": _number(item.get("item_price")),
            "currency": item.get("currency") or "BDT"})
        line["quantity"] += 1
    return list(lines.values())


def _number(value: Any) -> Any:
    try:
        return float(str(value).replace(",", ""))
    except (TypeError, ValueError):
        return value


class DarazSource:
    """Pages of a seller's orders updated in a window.

    Args:
        client: The source's polite HTTP client (open), built with :func:`classify`.
        api_url: Gateway root, e.g. ``https://api.daraz.com.bd/rest``.
        app_key: The app's key.
        app_secret: The app's secret (signs; never sent).
        access_token: The seller's access token.
        merchant_id: ``merchant_id`` of the records (the seller id).
        page_limit: Orders per page (max 50, the items call's limit).
    """

    name = NAME
    topic = TOPIC
    key_field = "order_id"

    def __init__(self, client: PoliteClient, *, api_url: str, app_key: str, app_secret: str,
                 access_token: str, merchant_id: str, page_limit: int = PAGE_LIMIT):
        missing = [n for n, v in (("app_key", app_key), ("app_secret", app_secret),
                                  ("access_token", access_token), ("merchant_id", merchant_id))
                   if not v]
        if missing:
            raise ValueError(f"Daraz needs {', '.join(missing)} (options or DARAZ_* variables)")
        if not 1 <= page_limit <= 50:
            raise ValueError(f"page_limit must be 1..50, got {page_limit}")
        self._client = client
        self._root = api_url.rstrip("/")
        self._key, self._secret, self._access = app_key, app_secret, access_token
        self._merchant = merchant_id
        self._limit = page_limit
        self.scope_id = merchant_id  # one cursor per seller

    def signed_params(self, api_path: str, params: dict) -> dict:
        """``params`` with the system parameters and the signature added."""
        full = {**{k: str(v) for k, v in params.items()}, "app_key": self._key,
                "timestamp": str(int(time.time() * 1000)), "sign_method": daraz_sign.SIGN_METHOD,
                "access_token": self._access}
        full["sign"] = daraz_sign.sign(api_path, full, self._secret)
        return full

    def call(self, api_path: str, params: dict) -> Any:
        """One signed API call; returns the body's ``data``."""
        # Signed again per attempt would be nicer for long waits; the timestamp window is 2 h.
        response = self._client.get(f"{self._root}{api_path}",
                                    params=self.signed_params(api_path, params))
        return response.json().get("data")

    def pages(self, since: Optional[datetime], until: Optional[datetime],
              token: Optional[str]) -> Iterator[Page]:
        """Pages from offset ``token`` (None: 0)."""
        offset = int(token or 0)
        params = {"update_after": to_utc(since or EARLIEST).isoformat(),
                  "sort_by": "updated_at", "sort_direction": "ASC", "limit": self._limit}
        if until is not None:
            params["update_before"] = to_utc(until).isoformat()
        while True:
            body = self.call("/orders/get", {**params, "offset": offset}) or {}
            orders = body.get("orders") or []
            ids = [o.get("order_id") for o in orders if isinstance(o, dict)]
            items = {}
            if ids:
                for row in self.call("/orders/items/get", {"order_ids": json.dumps(ids)}) or []:
                    items[row.get("order_id")] = row.get("order_items") or []
            entries = [Entry(str(o.get("order_id")), parse_daraz_time(o.get("updated_at")),
                             order_records(o, items.get(o.get("order_id"), []), self._merchant))
                       for o in orders if isinstance(o, dict)]
            offset += len(orders)
            total = int(body.get("countTotal") or 0)
            more = bool(orders) and offset < total
            yield Page(entries, str(offset) if more else None,
                       sum(1 for o in orders if not isinstance(o, dict)))
            if not more:
                return
