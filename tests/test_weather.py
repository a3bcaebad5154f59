"""Weather: the client against the emulator server, the join, degradation to 'no weather'."""
import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from sensory.cities import canonical_city
from sensory.io.weather import (OpenWeatherClient, ReadCurrentWeather, WeatherSnapshots,
                                WeatherUnavailable, parse_current_weather, resolve_api_key)
from sensory.settings import ConfigurationError
from sensory.stack.weather_emulator import WeatherEmulator, synthetic_weather
from sensory.transforms.weather import AttachWeather, resolve_join


def test_client_parses_the_real_response_shape(emulator):
    with OpenWeatherClient(base_url=emulator.base_url, api_key="k") as client:
        weather = client.current("Dhaka")
    assert weather.city == "Dhaka" and 0 <= weather.humidity <= 100
    assert emulator.requests_served == 1


def test_heavy_rain_and_extremes_from_payload():
    payload = synthetic_weather("Sylhet", now=0)
    payload["weather"] = [{"main": "Rain", "description": "heavy intensity rain"}]
    assert parse_current_weather(payload, "Sylhet").is_extreme_weather is True


@pytest.mark.parametrize("payload", [{}, {"weather": "Rain"}, {"weather": [], "main": None},
                                     {"weather": [{}], "main": {"temp": 30}, "wind": {}}])
def test_malformed_payloads_mean_no_weather(payload):
    with pytest.raises(WeatherUnavailable, match="unexpected payload"):
        parse_current_weather(payload, "Dhaka")


def test_a_reply_that_is_not_json_means_no_weather(emulator, monkeypatch):
    import requests
    monkeypatch.setattr(requests.Response, "json",
                        lambda self: (_ for _ in ()).throw(ValueError("not json")))
    with OpenWeatherClient(base_url=emulator.base_url, api_key="k") as client:
        with pytest.raises(WeatherUnavailable, match="not JSON"):
            client.current("Dhaka")


@pytest.mark.parametrize("status", [401, 404])
def test_client_errors_are_not_retried(emulator, status):
    emulator.fail_with = status
    with OpenWeatherClient(base_url=emulator.base_url, api_key="k", backoff_s=0) as client:
        with pytest.raises(WeatherUnavailable, match=str(status)):
            client.current("Dhaka")
    assert emulator.requests_served == 1


def test_server_errors_and_timeouts_are_retried_then_give_up(emulator):
    emulator.fail_with = 503
    with OpenWeatherClient(base_url=emulator.base_url, api_key="k", max_retries=2,
                           backoff_s=0) as client:
        with pytest.raises(WeatherUnavailable, match="503"):
            client.current("Dhaka")
    assert emulator.requests_served == 3
    emulator.fail_with, emulator.delay_s = None, 0.5
    with OpenWeatherClient(base_url=emulator.base_url, api_key="k", timeout_s=0.1,
                           max_retries=1, backoff_s=0) as client:
        with pytest.raises(WeatherUnavailable, match="Timeout"):
            client.current("Dhaka")


def test_emulator_is_quiet_about_clients_that_hung_up_but_not_about_its_own_bugs(capsys):
    server = WeatherEmulator()
    try:
        for error in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset")):
            try:
                raise error
            except ConnectionError:
                server.handle_error(None, ("127.0.0.1", 1))
        assert capsys.readouterr().err == ""
        try:
            raise KeyError("a bug in the emulator")
        except KeyError:
            server.handle_error(None, ("127.0.0.1", 1))
        assert "KeyError: 'a bug in the emulator'" in capsys.readouterr().err
    finally:
        server.server_close()


def test_api_key_rules(monkeypatch):
    monkeypatch.delenv("OPENWEATHER_API_KEY", raising=False)
    assert resolve_api_key("http://127.0.0.1:8091/data/2.5")
    with pytest.raises(ConfigurationError, match="OPENWEATHER_API_KEY"):
        resolve_api_key("https://api.openweathermap.org/data/2.5")


def test_city_spellings():
    assert canonical_city(" chattogram ") == "Chittagong"
    assert canonical_city("BARISHAL") == "Barisal"
    assert canonical_city("Comilla") is None and canonical_city("") is None


def _records():
    return [{"_record_type": "social", "location": "Dhaka", "post_id": "a"},
            {"_record_type": "market", "shipping_city": "Chattogram", "order_id": "b"},
            {"_record_type": "social", "location": "Comilla", "post_id": "c"},
            {"_record_type": "social", "post_id": "d"}]


def _statuses(records):
    return records | beam.Map(lambda r: (r.get("post_id") or r.get("order_id"),
                                         r["context"]["weather_status"],
                                         (r["context"]["weather"] or {}).get("city")))


def _run_counters(pipeline, namespace):
    """Runs ``pipeline`` and returns its committed counters in ``namespace`` by name."""
    result = pipeline.run()
    result.wait_until_finish()
    return {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace(namespace))["counters"]}


def test_join_from_the_emulator_side_input(emulator):
    p = TestPipeline()
    weather = p | ReadCurrentWeather(base_url=emulator.base_url, api_key="k")
    joined = p | beam.Create(_records()) | AttachWeather(weather=weather)
    assert_that(_statuses(joined), equal_to([
        ("a", "ok", "Dhaka"), ("b", "ok", "Chittagong"), ("c", "unknown_city", None),
        ("d", "no_city", None)]))
    fetched = _run_counters(p, "sensory.weather")
    assert fetched == {"fetched": 8}


def test_api_down_degrades_to_no_weather_and_counts_it(emulator):
    emulator.fail_with = 500
    p = TestPipeline()
    weather = p | ReadCurrentWeather(base_url=emulator.base_url, api_key="k")
    joined = p | beam.Create(_records()[:2]) | AttachWeather(weather=weather)
    assert_that(_statuses(joined), equal_to([("a", "unavailable", None),
                                             ("b", "unavailable", None)]))
    counters = _run_counters(p, "sensory.weather")
    assert counters == {"unavailable": 8}


def test_lookup_join_fetches_the_snapshot_itself(emulator):
    # The join Flink runs (no side input): same statuses, weather fetched by the worker.
    p = TestPipeline()
    joined = p | beam.Create(_records()) | AttachWeather(
        snapshots=WeatherSnapshots(base_url=emulator.base_url, api_key="k"))
    assert_that(_statuses(joined), equal_to([
        ("a", "ok", "Dhaka"), ("b", "ok", "Chittagong"), ("c", "unknown_city", None),
        ("d", "no_city", None)]))
    counters = _run_counters(p, "sensory.weather_join")
    assert counters["lookup_refreshes"] >= 1
    assert counters["ok"] == 2 and counters["unknown_city"] == 1 and counters["no_city"] == 1


def test_lookup_join_with_the_api_down_degrades_and_counts_it(emulator):
    emulator.fail_with = 500
    p = TestPipeline()
    joined = p | beam.Create(_records()[:2]) | AttachWeather(
        snapshots=WeatherSnapshots(base_url=emulator.base_url, api_key="k"))
    assert_that(_statuses(joined), equal_to([("a", "unavailable", None),
                                             ("b", "unavailable", None)]))
    counters = _run_counters(p, "sensory.weather_join")
    assert counters["lookup_unavailable_cities"] == 8 * counters["lookup_refreshes"]


def test_lookup_refreshes_only_when_the_snapshot_is_old(emulator):
    # pylint: disable=protected-access
    from sensory.transforms.weather import _LookupAttachFn
    fn = _LookupAttachFn(WeatherSnapshots(base_url=emulator.base_url, api_key="k",
                                          cities=("Dhaka",)), refresh_s=3600)
    fn.setup()
    try:
        fn.start_bundle()
        fn.start_bundle()
        assert emulator.requests_served == 1
        fn._fetched_at -= 3601
        fn.start_bundle()
        assert emulator.requests_served == 2
    finally:
        fn.teardown()


@pytest.mark.parametrize("mode, runner, expected", [
    ("auto", None, "side_input"), ("auto", "DirectRunner", "side_input"),
    ("auto", "FlinkRunner", "lookup"), ("auto", "apache_beam.runners.portability."
                                                 "portable_runner.PortableRunner", "lookup"),
    ("side_input", "FlinkRunner", "side_input"), ("lookup", "DirectRunner", "lookup")])
def test_auto_join_picks_lookup_on_flink(mode, runner, expected):
    assert resolve_join(mode, runner) == expected


def test_attach_weather_wants_exactly_one_source(emulator):
    with pytest.raises(ValueError, match="exactly one"):
        AttachWeather()
    with pytest.raises(ValueError, match="refresh_s"):
        AttachWeather(snapshots=WeatherSnapshots(base_url=emulator.base_url, api_key="k"),
                      refresh_s=0)
    with pytest.raises(ValueError, match="must be one of"):
        resolve_join("sideways", None)
