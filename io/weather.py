"""Current weather from OpenWeatherMap (or its local emulator), cached in Redis.

``OpenWeatherClient`` speaks OpenWeatherMap's current-weather API (``GET {base}/weather?q=...``)
with timeouts and exponential-backoff retries; ``CachedWeather`` puts a Redis cache with a
30-minute TTL in front of it. ``WeatherSnapshots`` fetches every city through both;
``ReadCurrentWeather`` turns that into the pipelines' weather side input: one snapshot for batch
runs, a periodic refresh for streaming runs.
"""
import logging
import os
import time
from datetime import datetime, timezone
from typing import Iterable, Optional

import apache_beam as beam
import requests
from apache_beam import PCollection
from apache_beam.metrics import Metrics

from sensory import redact
from sensory.cities import CITIES
from sensory.models import WeatherData
from sensory.settings import ConfigurationError

_LOGGER = logging.getLogger(__name__)

REAL_BASE_URL = "https://api.openweathermap.org/data/2.5"
API_KEY_ENV = "OPENWEATHER_API_KEY"
CACHE_TTL_S = 30 * 60
NAMESPACE = "sensory.weather"
_RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class WeatherUnavailable(Exception):
    """No weather could be had for a city (HTTP error, timeout, bad payload)."""


def local_base_url() -> str:
    """The local emulator's API root (``$SENSORY_WEATHER_PORT``, default 8091)."""
    return f"http://127.0.0.1:{os.environ.get('SENSORY_WEATHER_PORT', '8091')}/data/2.5"


def resolve_api_key(base_url: str, api_key: Optional[str] = None) -> str:
    """The API key to send: explicit, else ``$OPENWEATHER_API_KEY``; the loopback emulator
    accepts a placeholder so local runs need no key.

    Raises:
        ConfigurationError: A non-local endpoint and no key.
    """
    key = api_key or os.environ.get(API_KEY_ENV)
    if key:
        return key
    if base_url.startswith(("http://127.0.0.1", "http://localhost")):
        return "local-emulator"
    raise ConfigurationError(f"no OpenWeatherMap key: set {API_KEY_ENV} (or pass --no_weather)")


def parse_current_weather(payload: dict, city: str) -> WeatherData:
    """Maps OpenWeatherMap's current-weather JSON (units=metric) to ``WeatherData``."""
    try:
        weather = (payload.get("weather") or [{}])[0]
        condition = weather.get("main") or "Unknown"
        if condition == "Rain" and "heavy" in (weather.get("description") or "").lower():
            condition = "Heavy Rain"
        return WeatherData(
            city=city, temperature=payload["main"]["temp"], condition=condition,
            humidity=payload["main"]["humidity"], wind_speed=payload["wind"]["speed"],
            timestamp=datetime.fromtimestamp(payload["dt"], tz=timezone.utc).isoformat())
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as err:
        raise WeatherUnavailable(f"{city}: unexpected payload ({type(err).__name__})") from err


class OpenWeatherClient:
    """Current weather over HTTP; use as a context manager (it owns a ``requests.Session``).

    Args:
        base_url: API root, e.g. ``https://api.openweathermap.org/data/2.5``.
        api_key: The ``appid``.
        timeout_s: Per-request timeout.
        max_retries: Retries of timeouts, connection errors, 429 and 5xx.
        backoff_s: First retry delay, doubled each retry.
    """

    def __init__(self, *, base_url: str, api_key: str, timeout_s: float = 5.0,
                 max_retries: int = 3, backoff_s: float = 0.5):
        if not base_url or not api_key:
            raise ValueError("base_url and api_key are required")
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._session: Optional[requests.Session] = None
        self.requests_made = 0

    def __enter__(self) -> "OpenWeatherClient":
        # The key travels as the `appid` query parameter, which urllib3 logs at DEBUG.
        redact.install_log_filter()
        self._session = requests.Session()
        return self

    def __exit__(self, *exc) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def current(self, city: str) -> WeatherData:
        """Fetches the current weather of ``city``.

        Raises:
            WeatherUnavailable: After the retries, or at once for a 4xx other than 429.
        """
        if self._session is None:
            raise RuntimeError("use OpenWeatherClient as a context manager")
        params = {"q": f"{city},BD", "units": "metric", "appid": self._api_key}
        for attempt in range(self._max_retries + 1):
            self.requests_made += 1
            try:
                reply = self._session.get(f"{self._base_url}/weather", params=params,
                                          timeout=self._timeout_s)
            except requests.RequestException as err:
                problem = type(err).__name__
            else:
                if reply.status_code == 200:
                    try:
                        payload = reply.json()
                    except ValueError as err:
                        raise WeatherUnavailable(f"{city}: reply is not JSON") from err
                    return parse_current_weather(payload, city)
                problem = f"HTTP {reply.status_code}"
                if reply.status_code not in _RETRYABLE_STATUS:
                    raise WeatherUnavailable(f"{city}: {problem}")
            if attempt < self._max_retries:
                time.sleep(self._backoff_s * 2 ** attempt)
        raise WeatherUnavailable(f"{city}: {problem} after {self._max_retries + 1} attempts")


class CachedWeather:
    """Redis in front of a client: a hit makes no HTTP call; entries live ``ttl_s`` seconds.

    A Redis outage only costs the cache: lookups then go straight to the API.

    Args:
        client: An entered ``OpenWeatherClient``.
        redis_client: A ``redis.Redis``, or None to run without cache.
        ttl_s: Entry lifetime.
    """

    KEY_PREFIX = "sensory:weather:v1:"

    def __init__(self, client: OpenWeatherClient, redis_client=None, ttl_s: int = CACHE_TTL_S):
        self._client = client
        self._redis = redis_client
        self._ttl_s = ttl_s

    def current(self, city: str) -> WeatherData:
        """Cached current weather of ``city``; raises ``WeatherUnavailable`` like the client."""
        key = self.KEY_PREFIX + city
        if self._redis is not None:
            try:
                cached = self._redis.get(key)
                if cached:
                    return WeatherData.model_validate_json(cached)
            except Exception as err:  # pylint: disable=broad-except
                _LOGGER.warning("weather cache read failed (%s); asking the API",
                                type(err).__name__)
        weather = self._client.current(city)
        if self._redis is not None:
            try:
                self._redis.set(key, weather.model_dump_json(), ex=self._ttl_s)
            except Exception as err:  # pylint: disable=broad-except
                _LOGGER.warning("weather cache write failed (%s)", type(err).__name__)
        return weather


class WeatherSnapshots:
    """Snapshots ``{city: weather dict}`` of the cities that answered, through the Redis cache.

    A context manager: the HTTP session and the Redis connection open in ``__enter__`` and close
    in ``__exit__``. Picklable while closed, so a DoFn can hold one and open it in ``setup()``
    (the weather side input's fetch step, and ``AttachWeather``'s lookup join on runners
    without working side inputs).

    Args:
        base_url: OpenWeatherMap API root.
        api_key: The ``appid``.
        redis_url: Redis for the cache, or None.
        cities: Cities to fetch.
    """

    def __init__(self, *, base_url: str, api_key: str, redis_url: Optional[str] = None,
                 cities: tuple = CITIES):
        self._base_url = base_url
        self._api_key = api_key
        self._redis_url = redis_url
        self._cities = tuple(cities)
        self._client = None
        self._cache = None
        self._redis = None

    def __getstate__(self):
        return {**self.__dict__, "_client": None, "_cache": None, "_redis": None}

    def __enter__(self) -> "WeatherSnapshots":
        self._client = OpenWeatherClient(base_url=self._base_url,
                                          api_key=self._api_key).__enter__()
        if self._redis_url:
            import redis  # pylint: disable=import-outside-toplevel
            self._redis = redis.Redis.from_url(self._redis_url, socket_timeout=2)
        self._cache = CachedWeather(self._client, self._redis)
        return self

    def __exit__(self, *exc) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None
        if self._redis is not None:
            self._redis.close()
            self._redis = None

    def fetch(self) -> tuple[dict[str, dict], int]:
        """Returns the snapshot and how many cities gave no weather."""
        snapshot, unavailable = {}, 0
        for city in self._cities:
            try:
                weather = self._cache.current(city)
            except WeatherUnavailable as err:
                unavailable += 1
                _LOGGER.warning("no weather: %s", err)
                continue
            snapshot[city] = weather.model_dump(mode="json")
        return snapshot, unavailable


class _FetchAllFn(beam.DoFn):
    """On each impulse, yields one snapshot ``{city: weather dict}`` of the cities that answered.

    One element per snapshot (rather than one per city) lets a streaming side input swap the
    whole snapshot at once.
    """

    def __init__(self, snapshots: WeatherSnapshots):
        super().__init__()
        self._snapshots = snapshots

    def setup(self):
        self._ok = Metrics.counter(NAMESPACE, "fetched")
        self._unavailable = Metrics.counter(NAMESPACE, "unavailable")
        self._snapshots.__enter__()

    def process(self, _impulse) -> Iterable[dict[str, dict]]:
        snapshot, unavailable = self._snapshots.fetch()
        if snapshot:
            self._ok.inc(len(snapshot))
        if unavailable:
            self._unavailable.inc(unavailable)
        yield snapshot

    def teardown(self):
        self._snapshots.__exit__(None, None, None)


class ReadCurrentWeather(beam.PTransform[beam.pvalue.PBegin, PCollection[dict]]):
    """The weather side input: snapshots ``{city: WeatherData dict}`` (use ``AsSingleton``).

    Batch: one snapshot. Streaming (``refresh_s`` set): re-fetched every ``refresh_s`` seconds
    through the cache, in the global window with a repeated trigger that discards the previous
    pane, so the singleton view is always the latest snapshot (Beam's slowly-updating side-input
    pattern).

    Args:
        base_url: OpenWeatherMap API root (the local emulator by default in the pipelines).
        api_key: The ``appid``.
        redis_url: Redis for the cache, or None.
        refresh_s: Refresh period for streaming runs; None for a single snapshot.
        cities: Cities to fetch.
    """

    def __init__(self, *, base_url: str, api_key: str, redis_url: Optional[str] = None,
                 refresh_s: Optional[float] = None, cities: tuple = CITIES):
        super().__init__()
        if refresh_s is not None and refresh_s <= 0:
            raise ValueError("refresh_s must be positive")
        self._fetch = _FetchAllFn(WeatherSnapshots(base_url=base_url, api_key=api_key,
                                                   redis_url=redis_url, cities=cities))
        self._refresh_s = refresh_s

    def expand(self, pbegin):
        if self._refresh_s is None:
            return (pbegin | "Once" >> beam.Create([None])
                    | "Fetch" >> beam.ParDo(self._fetch))
        from apache_beam.transforms import trigger, window  # pylint: disable=import-outside-toplevel
        from apache_beam.transforms.periodicsequence import PeriodicImpulse  # pylint: disable=import-outside-toplevel
        return (pbegin
                | "Every" >> PeriodicImpulse(fire_interval=self._refresh_s,
                                             apply_windowing=False)
                | "Fetch" >> beam.ParDo(self._fetch)
                | "Latest" >> beam.WindowInto(
                    window.GlobalWindows(),
                    trigger=trigger.Repeatedly(trigger.AfterCount(1)),
                    accumulation_mode=trigger.AccumulationMode.DISCARDING))
