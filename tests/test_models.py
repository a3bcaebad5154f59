"""The pydantic models against the record contract."""
from datetime import datetime, timezone

import pydantic
import pytest

from sensory.models import MarketOrder, SocialPost, WeatherData

POST = {"platform": "tiktok", "post_id": "p1", "author": "a", "content": "hello world",
        "engagement_count": 3, "posted_at": "2025-12-20T10:30:00Z"}
ORDER = {"platform": "daraz", "order_id": "o1", "merchant_id": "m", "product_id": "p",
         "product_name": "Phone", "quantity": 2, "unit_price": 100.0, "order_status": "paid",
         "created_at": "2025-12-20T10:30:00+06:00"}


def _fields(error: pydantic.ValidationError) -> set:
    return {".".join(map(str, e["loc"])) or "record" for e in error.errors()}


def test_social_aliases_and_coercions():
    post = SocialPost.model_validate({**{k: v for k, v in POST.items()
                                         if k not in ("author", "posted_at")},
                                      "author_username": "x", "timestamp": "2025-12-20T10:30:00",
                                      "engagement_count": "12"})
    assert post.author == "x"
    assert post.engagement_count == 12
    assert post.posted_at == datetime(2025, 12, 20, 10, 30, tzinfo=timezone.utc)
    assert post.hashtags == []


@pytest.mark.parametrize("field,value", [
    ("engagement_count", "lots"), ("engagement_count", -1), ("engagement_count", True),
    ("content", "  hi  "), ("platform", "instagram"), ("post_id", " "),
    ("posted_at", "yesterday"), ("posted_at", 1700000000), ("likes_count", -2),
])
def test_social_rejects(field, value):
    with pytest.raises(pydantic.ValidationError) as caught:
        SocialPost.model_validate({**POST, field: value})
    assert field in _fields(caught.value)


def test_market_total_price_rule_and_defaults():
    order = MarketOrder.model_validate({**ORDER, "total_price": 200.009})
    assert order.currency == "BDT"
    assert order.created_at.tzinfo == timezone.utc and order.created_at.hour == 4
    with pytest.raises(pydantic.ValidationError, match="total_price"):
        MarketOrder.model_validate({**ORDER, "total_price": 200.02})


@pytest.mark.parametrize("field,value", [
    ("quantity", 0), ("unit_price", 0), ("currency", "bdt"), ("order_status", ""),
    ("platform", "amazon"), ("created_at", "not a date"),
])
def test_market_rejects(field, value):
    with pytest.raises(pydantic.ValidationError):
        MarketOrder.model_validate({**ORDER, field: value})


def test_market_price_alias():
    assert MarketOrder.model_validate(
        {**{k: v for k, v in ORDER.items() if k != "unit_price"}, "price": "12.5"}).unit_price == 12.5


@pytest.mark.parametrize("temperature,wind,condition,extreme", [
    (30, 3, "Clear", False), (38.5, 3, "Clear", True), (9, 3, "Clouds", True),
    (25, 16, "Clear", True), (25, 3, "Thunderstorm", True), (25, 3, "Heavy Rain", True),
    (25, 3, "Rain", False),
])
def test_weather_extreme_rule(temperature, wind, condition, extreme):
    weather = WeatherData(city="Dhaka", temperature=temperature, condition=condition,
                          humidity=80, wind_speed=wind, timestamp="2025-07-01T00:00:00Z")
    assert weather.is_extreme_weather is extreme
