"""``sensory weather fetch``: current weather of the plan's cities onto ``context.weather``."""
import json
import time

import click

from sensory import endpoints

from sensory.cities import CITIES
from sensory.io.kafka_write import producer_config
from sensory.metrics_export import (OUTCOME_ERROR, OUTCOME_OK, OUTCOME_RATE_LIMITED,
                                    SourceMetrics, push, pushgateway_url, safe_label)
from sensory.io.weather import (CachedWeather, OpenWeatherClient, WeatherUnavailable,
                                local_base_url, resolve_api_key)
from sensory.settings import ConfigurationError
from sensory.topics import WEATHER_TOPIC

# OpenWeatherMap's free tier allows 60 calls a minute.
FREE_TIER_INTERVAL_S = 1.0


WEATHER_SOURCE = "openweather"


class WeatherFetchMetrics(SourceMetrics):
    """The source metrics plus ``sensory_weather_observed_timestamp_seconds{city}``."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Gauge  # pylint: disable=import-outside-toplevel
        super().__init__(CollectorRegistry())
        self._observed = Gauge("sensory_weather_observed_timestamp_seconds",
                               "Observation time of the newest weather per city.", ["city"],
                               registry=self.registry)

    def observed(self, city: str, timestamp: float) -> None:
        """Records when ``city``'s weather was observed (city names are a fixed list)."""
        self._observed.labels(safe_label(city, allowed=CITIES)).set(timestamp)


@click.group(name="weather")
def weather() -> None:
    """Weather for the pipelines' side input."""


@weather.command()
@click.option("--bootstrap_servers", default=endpoints.kafka_bootstrap,
              show_default="127.0.0.1:$SENSORY_KAFKA_PORT")
@click.option("--base_url", default=None,
              help="OpenWeatherMap API root. Default: the local emulator; the real API is "
                   "https://api.openweathermap.org/data/2.5 with $OPENWEATHER_API_KEY.")
@click.option("--redis_url", default=endpoints.redis_url,
              show_default="redis://127.0.0.1:$SENSORY_REDIS_PORT/0",
              help="Cache; empty to disable.")
@click.option("--min_interval_s", default=FREE_TIER_INTERVAL_S, show_default=True,
              help="Pause between API calls (rate limit).")
@click.option("--pushgateway", default=None,
              help="Pushgateway for this fetch's metrics; empty for none. "
                   "Default: http://127.0.0.1:$SENSORY_PUSHGATEWAY_PORT (9091).")
def fetch(bootstrap_servers: str, base_url: str, redis_url: str, min_interval_s: float,
          pushgateway: str) -> None:
    """Fetch the 8 cities' current weather and publish it to context.weather."""
    from confluent_kafka import Producer  # pylint: disable=import-outside-toplevel
    base_url = base_url or local_base_url()
    try:
        api_key = resolve_api_key(base_url)
    except ConfigurationError as err:
        raise click.ClickException(str(err)) from err
    cache_client = None
    if redis_url:
        import redis  # pylint: disable=import-outside-toplevel
        cache_client = redis.Redis.from_url(redis_url, socket_timeout=2)
    producer = Producer(producer_config(bootstrap_servers))
    published, failed = 0, []
    metrics = WeatherFetchMetrics()
    metrics.declare(WEATHER_SOURCE)
    with OpenWeatherClient(base_url=base_url, api_key=api_key) as client:
        cache = CachedWeather(client, cache_client)
        for city in CITIES:
            before = client.requests_made
            try:
                current = cache.current(city)
            except WeatherUnavailable as err:
                failed.append(str(err))
                metrics.request(WEATHER_SOURCE, OUTCOME_RATE_LIMITED if "HTTP 429" in str(err)
                                else OUTCOME_ERROR)
                continue
            finally:
                if client.requests_made > before:
                    time.sleep(min_interval_s)
            if client.requests_made > before:  # not a cache hit
                metrics.request(WEATHER_SOURCE, OUTCOME_OK)
            metrics.items(WEATHER_SOURCE)
            metrics.observed(city, current.timestamp.timestamp())
            producer.produce(WEATHER_TOPIC, key=city.encode(),
                             value=json.dumps(current.model_dump(mode="json")).encode())
            published += 1
    push(metrics.registry, job="sensory_weather", grouping_key={"source": WEATHER_SOURCE},
         gateway=pushgateway_url() if pushgateway is None else pushgateway)
    if producer.flush(30):
        raise click.ClickException("Kafka did not acknowledge every weather message")
    click.echo(f"published {published} of {len(CITIES)} cities to {WEATHER_TOPIC}")
    if failed:
        raise click.ClickException(f"no weather for {len(failed)} cities: {failed}")
