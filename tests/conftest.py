"""Shared fixtures for unit tests."""
import pytest

from sensory.stack.weather_emulator import WeatherEmulator

TEST_KEY = "unit-test-key-0123456789abcdef"


@pytest.fixture
def emulator():
    """A local OpenWeatherMap-protocol server on an ephemeral port (counts requests, can fail)."""
    server = WeatherEmulator().start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def pii_key(monkeypatch):
    """Sets ``SENSORY_PII_KEY`` for the test (DirectRunner runs in-process) and returns it."""
    monkeypatch.delenv("SENSORY_PII_KEY_FILE", raising=False)
    monkeypatch.setenv("SENSORY_PII_KEY", TEST_KEY)
    return TEST_KEY.encode()


import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

# The pii_key fixture only sets a constant environment variable, so sharing it across the
# examples of one @given test is safe; Beam pipelines make examples slow by design.
settings.register_profile("sensory", deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# Tests that pin max_examples keep their own count; the rest follow the profile chosen by
# $SENSORY_HYPOTHESIS_PROFILE: "fast" (default, `make test`) or "slow" (10,000 examples).
settings.register_profile("fast", settings.get_profile("sensory"), max_examples=200)
settings.register_profile("slow", settings.get_profile("sensory"), max_examples=10_000)
settings.load_profile(os.environ.get("SENSORY_HYPOTHESIS_PROFILE", "fast"))
