"""``AttachWeather``: joins records to the latest weather snapshot on their city.

Two ways to get the snapshot to the records, the same join either way:

* ``side_input``: the snapshots are a PCollection read as a singleton side input (Beam's
  slowly-updating side-input pattern). The default on DirectRunner.
* ``lookup``: each worker fetches the snapshot itself through the Redis-cached client it is
  given, at setup and again once ``refresh_s`` has passed. Beam 2.62's Flink runner cannot
  checkpoint an operator with a Python side input (docs/flink.md), so this is ``auto``'s choice
  there; the cache keeps the API calls to one per city and TTL however many workers ask.
"""
import logging
import time
from typing import Any, Optional

import apache_beam as beam
from apache_beam import PCollection
from apache_beam.metrics import Metrics

from sensory.cities import canonical_city
from sensory.models import MARKET, RECORD_TYPE_KEY
from sensory.settings import pick_for_runner

_LOGGER = logging.getLogger(__name__)

WEATHER_NAMESPACE = "sensory.weather_join"
# Why a record has no weather (context.weather_status).
WEATHER_OK = "ok"
NO_CITY = "no_city"
UNKNOWN_CITY = "unknown_city"
UNAVAILABLE = "unavailable"

SIDE_INPUT = "side_input"
LOOKUP = "lookup"
JOIN_MODES = ("auto", SIDE_INPUT, LOOKUP)


def resolve_join(mode: str, runner: Optional[str]) -> str:
    """``auto`` → ``lookup`` on Flink (FlinkRunner, PortableRunner), else ``side_input``.

    Args:
        mode: ``auto``, ``side_input`` or ``lookup``.
        runner: The pipeline's ``--runner`` (class name or None).

    Returns:
        ``side_input`` or ``lookup``.
    """
    return pick_for_runner(mode, runner, on_flink=LOOKUP, elsewhere=SIDE_INPUT,
                           what="weather join")


def record_city(record: dict[str, Any]) -> Optional[str]:
    """The city a record joins weather on: ``shipping_city`` (market) or ``location``."""
    field = "shipping_city" if record.get(RECORD_TYPE_KEY) == MARKET else "location"
    value = record.get(field)
    return value.strip() if isinstance(value, str) and value.strip() else None


class _AttachFn(beam.DoFn):
    """The join on a side-input snapshot."""

    def setup(self):
        self._counters = {status: Metrics.counter(WEATHER_NAMESPACE, status) for status in
                          (WEATHER_OK, NO_CITY, UNKNOWN_CITY, UNAVAILABLE)}

    def attach(self, record: dict[str, Any], snapshot: Optional[dict]) -> dict[str, Any]:
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
        return {**record, "context": context}

    def process(self, record: dict[str, Any], snapshot: Optional[dict]):
        yield self.attach(record, snapshot)


class _LookupAttachFn(_AttachFn):
    """The join on a snapshot this worker fetches itself and refreshes every ``refresh_s``."""

    def __init__(self, snapshots, refresh_s: Optional[float]):
        super().__init__()
        self._snapshots = snapshots
        self._refresh_s = refresh_s
        self._snapshot: dict = {}
        self._fetched_at: Optional[float] = None

    def setup(self):
        super().setup()
        self._refreshes = Metrics.counter(WEATHER_NAMESPACE, "lookup_refreshes")
        self._unavailable = Metrics.counter(WEATHER_NAMESPACE, "lookup_unavailable_cities")
        self._snapshots.__enter__()
        self._snapshot, self._fetched_at = {}, None

    def start_bundle(self):
        now = time.monotonic()
        if self._fetched_at is not None and (
                self._refresh_s is None or now - self._fetched_at < self._refresh_s):
            return
        snapshot, unavailable = self._snapshots.fetch()
        self._refreshes.inc()
        if unavailable:
            self._unavailable.inc(unavailable)
        # A refresh that got nothing (API and cache down) keeps the last good snapshot.
        if snapshot or not self._snapshot:
            self._snapshot = snapshot
        self._fetched_at = now
        _LOGGER.info("weather snapshot refreshed: %d cities, %d unavailable", len(snapshot),
                     unavailable)

    def process(self, record: dict[str, Any]):  # pylint: disable=arguments-differ
        yield self.attach(record, self._snapshot)

    def teardown(self):
        self._snapshots.__exit__(None, None, None)


class AttachWeather(beam.PTransform[PCollection[dict], PCollection[dict]]):
    """Adds ``context.weather`` (or None) and ``context.weather_status`` to every record.

    Never fails a record for want of weather: ``weather_status`` says ``ok``, ``no_city``,
    ``unknown_city`` (not one of the plan's cities) or ``unavailable`` (the API gave nothing).
    Give exactly one of ``weather`` and ``snapshots``.

    Args:
        weather: A PCollection of snapshots ``{city: weather dict}`` keyed by the plan's city
            names (``sensory.cities``), read as a singleton side input (the latest wins).
        snapshots: Instead, a closed context manager whose ``fetch()`` returns
            ``(snapshot, unavailable_count)`` (``sensory.io.weather.WeatherSnapshots``); each
            worker opens it in ``setup()`` and fetches at its first bundle.
        refresh_s: With ``snapshots``, fetch again once this many seconds have passed (streaming);
            None fetches once per worker.
    """

    def __init__(self, *, weather: Optional[PCollection] = None, snapshots=None,
                 refresh_s: Optional[float] = None):
        super().__init__()
        if (weather is None) == (snapshots is None):
            raise ValueError("give exactly one of weather (a PCollection) and snapshots")
        if weather is not None and not isinstance(weather, PCollection):
            raise TypeError("weather must be a PCollection of {city: weather} snapshots")
        if snapshots is not None and not callable(getattr(snapshots, "fetch", None)):
            raise TypeError("snapshots must have a fetch() returning (snapshot, unavailable)")
        if refresh_s is not None and refresh_s <= 0:
            raise ValueError(f"refresh_s must be positive, got {refresh_s!r}")
        self._weather = weather
        self._snapshots = snapshots
        self._refresh_s = refresh_s

    def expand(self, records):
        if self._snapshots is not None:
            return records | "LookupOnCity" >> beam.ParDo(
                _LookupAttachFn(self._snapshots, self._refresh_s))
        return records | "JoinOnCity" >> beam.ParDo(
            _AttachFn(),
            snapshot=beam.pvalue.AsSingleton(self._weather, default_value={}))
