"""Unit tests of the scrapers' building blocks (no stack needed)."""
import hashlib
import hmac
from datetime import datetime, timezone

import pytest
import requests
from hypothesis import given, strategies as st
from pydantic import ValidationError

from sensory.models import MarketOrder, SocialPost
from sensory.scrapers import daraz, daraz_sign, facebook, metrics, shopify, tiktok
from sensory.scrapers.base import Entry, Page, Window
from sensory.scrapers.cursor import CursorState
from sensory.scrapers.errors import SourceAuthError, SourceRequestError, ThrottledError
from sensory.scrapers.fixtures.daraz import DarazFixture, daraz_items, daraz_order
from sensory.scrapers.fixtures.graph import graph_post
from sensory.scrapers.fixtures.shopify import shopify_order
from sensory.scrapers.fixtures.tiktok import tiktok_item
from sensory.scrapers.http import PoliteClient, Politeness, retry_after_seconds
from sensory.scrapers.ratelimit import TokenBucket
from sensory.scrapers.runner import run_once
from sensory.scrapers.service import parse_every


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_token_bucket_paces_to_its_rate_after_the_burst():
    clock = _Clock()
    bucket = TokenBucket(2.0, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(12):
        bucket.acquire()
    assert clock.now == pytest.approx(5.0, abs=0.01)  # 2 free, then 10 at 2/s


def test_token_bucket_pause_holds_every_token():
    clock = _Clock()
    bucket = TokenBucket(100.0, burst=5, clock=clock, sleep=clock.sleep)
    bucket.pause_until(3.0)
    assert bucket.acquire() == pytest.approx(3.0)


@pytest.mark.parametrize("text,seconds", [("15m", 900), ("30s", 30), ("1h", 3600), ("90", 90)])
def test_parse_every(text, seconds):
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "0m", "soon", "-5s"])
def test_parse_every_refuses_nonsense(text):
    with pytest.raises(ValueError):
        parse_every(text)


def test_retry_after_in_seconds_and_as_http_date():
    assert retry_after_seconds("2.0") == 2.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


@given(st.dictionaries(st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1,
                               max_size=8), st.text(max_size=12), min_size=1, max_size=6))
def test_daraz_signature_is_the_documented_hmac(params):
    expected_base = "/orders/get" + "".join(k + params[k] for k in sorted(params) if k != "sign")
    expected = hmac.new(b"s3cret", expected_base.encode(), hashlib.sha256).hexdigest().upper()
    assert daraz_sign.sign("/orders/get", params, "s3cret") == expected
    assert daraz_sign.verify("/orders/get", {**params, "sign": expected}, "s3cret")


def test_daraz_fixture_accepts_our_signature_and_refuses_a_tampered_parameter():
    server = DarazFixture(orders=5).start_in_thread()
    try:
        with PoliteClient("daraz", Politeness(rate_per_s=50, max_attempts=1),
                          classify=daraz.classify) as client:
            source = daraz.DarazSource(client, api_url=f"{server.base_url}/rest",
                                       app_key=server.app_key, app_secret=server.app_secret,
                                       access_token=server.access_token, merchant_id="s")
            assert source.call("/orders/get", {"update_after": "2015-01-01T00:00:00+00:00",
                                               "limit": 5})["countTotal"] == 5
            params = source.signed_params("/orders/get", {"update_after": "2015-01-01", "limit": 5})
            params["limit"] = "50"  # tampered after signing
            answer = requests.get(f"{server.base_url}/rest/orders/get", params=params,
                                  timeout=10).json()
            assert answer["code"] == "IncompleteSignature"
            wrong = daraz.DarazSource(client, api_url=f"{server.base_url}/rest",
                                      app_key=server.app_key, app_secret="not-it",
                                      access_token=server.access_token, merchant_id="s")
            with pytest.raises(SourceRequestError, match="IncompleteSignature"):
                wrong.call("/orders/get", {"update_after": "2015-01-01"})
        assert server.refused_signatures == 2
    finally:
        server.stop()


def test_mapped_records_are_valid_contract_records():
    for index in range(20):
        for record in shopify.order_records(shopify_order(index), "m"):
            MarketOrder.model_validate(record)
        for record in daraz.order_records(daraz_order(index), daraz_items(index), "m"):
            MarketOrder.model_validate(record)
        SocialPost.model_validate(facebook.post_record(graph_post("1", index)))
        SocialPost.model_validate(tiktok.item_record(tiktok_item("@a", index)))


def test_malformed_items_are_still_records_that_the_validator_refuses():
    with pytest.raises(ValidationError, match="unit_price"):
        MarketOrder.model_validate(shopify.order_records(shopify_order(3, malformed=True), "m")[0])
    with pytest.raises(ValidationError, match="unit_price"):
        MarketOrder.model_validate(
            daraz.order_records(daraz_order(3), daraz_items(3, malformed=True), "m")[0])
    with pytest.raises(ValidationError, match="content"):
        SocialPost.model_validate(facebook.post_record(graph_post("1", 3, malformed=True)))
    with pytest.raises(ValidationError, match="content"):
        SocialPost.model_validate(tiktok.item_record(tiktok_item("@a", 3, malformed=True)))


def _response(status, body, headers=None):
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.headers.update(headers or {})
    response.url = "http://127.0.0.1/x"
    return response


def test_graph_error_codes_map_to_retry_decisions():
    for code in (4, 17, 32, 613):
        assert isinstance(facebook.classify(_response(400, f'{{"error": {{"code": {code}}}}}')),
                          ThrottledError)
    assert isinstance(facebook.classify(_response(400, '{"error": {"code": 190}}')),
                      SourceAuthError)
    assert facebook.classify(_response(200, '{"data": []}')) is None


def test_daraz_codes_map_to_retry_decisions():
    throttled = daraz.classify(_response(200, '{"code": "ApiCallLimit", "message": '
                                              '"This ban will last 3 seconds"}'))
    assert isinstance(throttled, ThrottledError) and throttled.retry_after == 3
    assert isinstance(daraz.classify(_response(200, '{"code": "IllegalAccessToken"}')),
                      SourceAuthError)
    assert daraz.classify(_response(200, '{"code": "0", "data": {}}')) is None


class _Source:
    name, topic, key_field = "fake", "t", "order_id"

    def __init__(self, pages):
        self._pages = pages
        self.asked = []

    def pages(self, since, until, token):
        self.asked.append((since, token))
        start = int(token or 0)
        for number in range(start, len(self._pages)):
            yield Page(self._pages[number],
                       str(number + 1) if number + 1 < len(self._pages) else None)


class _Sender:
    def __init__(self, fail_on_call=None):
        self.sent, self.calls, self._fail = [], 0, fail_on_call

    def send(self, topic, keyed):
        self.calls += 1
        if self.calls == self._fail:
            raise RuntimeError("broker down")
        self.sent.extend(key for key, _ in keyed)


class _Cursors:
    def __init__(self):
        self.saved = {}

    def load(self, key):
        return CursorState(**self.saved[key].__dict__) if key in self.saved else CursorState()

    def save(self, key, state):
        self.saved[key] = CursorState(**{k: (list(v) if isinstance(v, list) else v)
                                         for k, v in state.__dict__.items()})


def _entry(n, minute):
    return Entry(f"o{n}", datetime(2025, 1, 1, 0, minute, tzinfo=timezone.utc),
                 [{"order_id": f"o{n}"}])


def test_runner_failed_delivery_keeps_the_cursor_so_the_page_is_resent():
    pages = [[_entry(1, 1), _entry(2, 2)], [_entry(3, 3)], [_entry(4, 4)]]
    cursors = _Cursors()
    with pytest.raises(RuntimeError):
        run_once(_Source(pages), _Sender(fail_on_call=2), cursors)
    sender = _Sender()
    summary = run_once(_Source(pages), sender, cursors)
    assert sender.sent == ["o3", "o4"] and summary.complete
    state = cursors.load("sensory:scrape:cursor:fake:incremental")
    assert state.watermark == "2025-01-01T00:04:00+00:00" and state.boundary_ids == ["o4"]


def test_runner_max_items_stops_mid_page_and_continues_there():
    pages = [[_entry(1, 1), _entry(2, 2), _entry(3, 3)], [_entry(4, 4)]]
    cursors, sender = _Cursors(), _Sender()
    first = run_once(_Source(pages), sender, cursors, max_items=2)
    assert sender.sent == ["o1", "o2"] and not first.complete
    second = run_once(_Source(pages), sender, cursors)
    assert sender.sent == ["o1", "o2", "o3", "o4"] and second.duplicates == 2


def test_window_scopes_are_separate_cursors():
    assert Window().scope() == "incremental"
    assert Window(datetime(2025, 1, 1, tzinfo=timezone.utc)).scope().startswith("backfill:")


def test_metrics_registry_counts_per_source_and_refuses_unknown_names():
    registry = metrics.Registry()
    registry.inc("shopify", metrics.REQUESTS, 3)
    assert registry.snapshot() == {"shopify": {"requests": 3}}
    with pytest.raises(ValueError):
        registry.inc("shopify", "customer_phone")


def test_circuit_opens_after_repeated_failures_and_stops_calling_the_source():
    from sensory.scrapers.errors import ScrapeError
    from sensory.scrapers.fixtures.shopify import ShopifyFixture
    server = ShopifyFixture(orders=1).start_in_thread()
    server.faults.error_next = 10
    url = f"{server.base_url}/admin/api/2024-10/orders.json"
    headers = {"X-Shopify-Access-Token": server.access_token}
    try:
        with PoliteClient("shopify", Politeness(rate_per_s=50, max_attempts=2,
                                                backoff_initial_s=0.01, breaker_fail_max=2,
                                                breaker_reset_s=60)) as client:
            with pytest.raises(ScrapeError, match="HTTP 500"):
                client.get(url, headers=headers)
            with pytest.raises(ScrapeError, match=r"circuit open.*last error: HTTP 500"):
                client.get(url, headers=headers)  # the failure that trips the breaker
            with pytest.raises(ScrapeError, match="circuit open"):
                client.get(url, headers=headers)
        assert len(server.api_requests) == 4  # 2 calls x 2 attempts; none once open
    finally:
        server.stop()


def test_user_agents_and_proxies_rotate(tmp_path):
    from sensory.scrapers.http import read_proxies
    proxies = tmp_path / "proxies.txt"
    proxies.write_text("# pool\nhttp://10.0.0.1:3128\n\nhttp://10.0.0.2:3128\n")
    pool = read_proxies(str(proxies))
    client = PoliteClient("x", Politeness(proxies=pool))
    assert [client.next_proxy() for _ in range(3)] == [pool[0], pool[1], pool[0]]
    agents = {client.next_user_agent() for _ in range(10)}
    assert len(agents) == len(Politeness().user_agents) > 1
    (tmp_path / "bad.txt").write_text("not a url\n")
    with pytest.raises(ValueError, match="not a proxy URL"):
        read_proxies(str(tmp_path / "bad.txt"))


def test_tiktok_without_a_browser_fails_fast_with_a_clear_error(monkeypatch):
    from sensory.scrapers.fixtures.tiktok import TikTokFixture
    monkeypatch.setenv("SENSORY_CHROMIUM", "/nonexistent/chromium")
    server = TikTokFixture(posts_per_target=3).start_in_thread()
    try:
        with PoliteClient("tiktok", Politeness(rate_per_s=50)) as client:
            source = tiktok.TikTokSource(client, base_url=server.base_url, targets=["@a"])
            with pytest.raises(RuntimeError, match="SENSORY_CHROMIUM"):
                list(source.pages(None, None, None))
    finally:
        server.stop()
