"""The Redis cache in front of the weather API, with the stack's Redis."""
import time
import uuid

import pytest
import redis

from sensory.io.weather import CachedWeather, OpenWeatherClient

pytestmark = pytest.mark.integration


def test_cache_hits_make_no_call_and_expiry_refetches(emulator, redis_url, monkeypatch):
    client = redis.Redis.from_url(redis_url)
    # Keys of our own, so entries cached by other runs cannot turn a miss into a hit.
    monkeypatch.setattr(CachedWeather, "KEY_PREFIX", f"it:{uuid.uuid4().hex[:6]}:")
    with OpenWeatherClient(base_url=emulator.base_url, api_key="k") as api:
        cache = CachedWeather(api, client, ttl_s=1)
        first = cache.current("Khulna")
        assert cache.current("Khulna") == first
        assert emulator.requests_served == 1  # the second lookup was a hit
        assert 0 < client.ttl(CachedWeather.KEY_PREFIX + "Khulna") <= 1
        time.sleep(1.5)
        cache.current("Khulna")
        assert emulator.requests_served == 2  # expired, fetched again


def test_redis_down_only_costs_the_cache(emulator):
    dead_redis = redis.Redis(host="127.0.0.1", port=1, socket_timeout=0.2)
    with OpenWeatherClient(base_url=emulator.base_url, api_key="k") as api:
        weather = CachedWeather(api, dead_redis).current("Rangpur")
    assert weather.city == "Rangpur"
