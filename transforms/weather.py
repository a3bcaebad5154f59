"""``AttachWeather``: joins records to the weather side input on their city."""
from typing import Any, Optional

import apache_beam as beam
from apache_beam import PCollection
from apache_beam.metrics import Metrics

from sensory.cities import canonical_city
from sensory.models import MARKET, RECORD_TYPE_KEY

WEATHER_NAMESPACE = "sensory.weather_join"
# Why a record has no weather (context.weather_status).
WEATHER_OK = "ok"
NO_CITY = "no_city"
UNKNOWN_CITY = "unknown_city"
UNAVAILABLE = "unavailable"

def record_city(record: dict[str, Any]) -> Optional[str]:
    """The city a record joins weather on: ``shipping_city`` (market) or ``location``."""
    field = "shipping_city" if record.get(RECORD_TYPE_KEY) == MARKET else "location"
    value = record.get(field)
    return value.strip() if isinstance(value, str) and value.strip() else None


class _AttachFn(beam.DoFn):

    def setup(self):
        self._counters = {status: Metrics.counter(WEATHER_NAMESPACE, status) for status in
                          (WEATHER_OK, NO_CITY, UNKNOWN_CITY, UNAVAILABLE)}

    def process(self, record: dict[str, Any], snapshot: Optional[dict]):
        city = record_city(record)
        canonical = canonical_city(city)
        weather = (snapshot or {}).get(canonical) if canonical else None
        if city is None:
            status = NO_CITY
        elif canonical is None:
            status = UNKNOWN_CITY
        elif weather is None:
            status = UNAVAILABLE
        else:
            status = WEATHER_OK
        self._counters[status].inc()
        context = {**(record.get("context") or {}), "weather": weather, "weather_status": status}
        yield {**record, "context": context}


class AttachWeather(beam.PTransform[PCollection[dict], PCollection[dict]]):
    """Adds ``context.weather`` (or None) and ``context.weather_status`` to every record.

    Never fails a record for want of weather: ``weather_status`` says ``ok``, ``no_city``,
    ``unknown_city`` (not one of the plan's cities) or ``unavailable`` (the API gave nothing).

    Args:
        weather: A PCollection of snapshots ``{city: weather dict}`` keyed by the plan's city
            names (``sensory.cities``), read as a singleton side input (the latest wins).
    """

    def __init__(self, *, weather: PCollection):
        super().__init__()
        if not isinstance(weather, PCollection):
            raise TypeError("weather must be a PCollection of {city: weather} snapshots")
        self._weather = weather

    def expand(self, records):
        return records | "JoinOnCity" >> beam.ParDo(
            _AttachFn(),
            snapshot=beam.pvalue.AsSingleton(self._weather, default_value={}))
