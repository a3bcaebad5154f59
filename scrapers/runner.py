"""The one producer contract: pages → Kafka (idempotent, acks=all) → cursor in Redis.

For every page the runner produces each new record keyed by its natural id, waits until Kafka
acknowledged all of them, and only then saves the cursor. A crash (or kill) at any point re-sends
at most the page in flight; nothing is skipped. Items already produced by an earlier run (at the
watermark boundary or on a partly produced page) and items seen twice in one run are counted as
duplicates, not produced again.
"""
import json
import logging
import time
from dataclasses import dataclass
from typing import Callable, Optional

from sensory.scrapers import metrics
from sensory.scrapers.base import Entry, Source, Window, parse_time, to_utc
from sensory.scrapers.cursor import CursorState, CursorStore, cursor_key
from sensory.scrapers.errors import DeliveryError

_LOGGER = logging.getLogger(__name__)

PROGRESS_EVERY_S = 10.0


@dataclass
class Summary:
    """What one run did."""

    source: str
    fetched: int = 0
    produced: int = 0
    duplicates: int = 0
    failed: int = 0
    pages: int = 0
    elapsed_s: float = 0.0
    complete: bool = False

    def line(self) -> str:
        """The run's one-line summary."""
        state = "complete" if self.complete else "stopped early"
        return (f"scrape {self.source}: fetched={self.fetched} produced={self.produced} "
                f"skipped_duplicates={self.duplicates} failed={self.failed} pages={self.pages} "
                f"elapsed={self.elapsed_s:.1f}s ({state})")


class KafkaBatchProducer:
    """Produces one page at a time and waits for every acknowledgement.

    Args:
        producer: A ``confluent_kafka.Producer`` built with ``producer_config`` (idempotent,
            acks=all).
        flush_timeout_s: Longest wait for a page's acknowledgements.
    """

    def __init__(self, producer, flush_timeout_s: float = 60.0):
        self._producer = producer
        self._flush_timeout_s = flush_timeout_s

    def send(self, topic: str, keyed_values: list[tuple[str, dict]]) -> None:
        """Produces ``(key, record)`` pairs and blocks until all are acknowledged.

        Raises:
            DeliveryError: A message failed or was not acknowledged in time.
        """
        errors: list[str] = []

        def delivered(error, _message):
            if error is not None:
                errors.append(str(error))

        for key, record in keyed_values:
            value = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")
            while True:
                try:
                    self._producer.produce(topic, value=value, key=key.encode("utf-8"),
                                           on_delivery=delivered)
                    break
                except BufferError:
                    self._producer.poll(0.5)  # local queue full: let deliveries drain
            self._producer.poll(0)
        left = self._producer.flush(self._flush_timeout_s)
        if left or errors:
            raise DeliveryError(f"{topic}: {left} message(s) unacknowledged, {len(errors)} "
                                f"failed (first: {errors[:1]}); the cursor was not advanced")


def run_once(source: Source, sender: KafkaBatchProducer, cursors: CursorStore, *,
             window: Window = Window(), max_items: Optional[int] = None, topic: Optional[str] = None,
             progress: Callable[[str], None] = _LOGGER.info) -> Summary:
    """Scrapes ``source`` from its cursor to the end of its window (or ``max_items``).

    Args:
        source: The scraper.
        sender: Produces a page and waits for Kafka's acknowledgement.
        cursors: Where the cursor lives.
        window: ``--since``/``--until``; a bounded window has its own cursor scope.
        max_items: Stop after producing this many records (the cursor remembers where).
        topic: Target topic instead of ``source.topic`` (tests, replays).
        progress: Called with a progress line about every 10 s of a long run.

    Returns:
        The run's summary.
    """
    if max_items is not None and max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    began = time.monotonic()
    summary = Summary(source.name)
    key = cursor_key(source.name, scope_of(source, window))
    state = cursors.load(key)
    watermark = parse_time(state.watermark)
    since = max(filter(None, (watermark, window.since)), default=None)
    skip = set(state.boundary_ids) | set(state.resume_sent)
    seen: set[str] = set()
    last_progress = began
    token = state.resume
    for page in source.pages(since, window.until, token):
        summary.pages += 1
        metrics.inc(source.name, metrics.PAGES)
        summary.failed += page.unmappable
        summary.fetched += page.skipped
        summary.duplicates += page.skipped
        if page.unmappable:
            metrics.inc(source.name, metrics.ERRORS, page.unmappable)
        batch: list[tuple[str, dict]] = []
        sent_ids: list[str] = []
        stop = False
        for entry in page.entries:
            summary.fetched += 1
            if entry.item_id in skip or entry.item_id in seen:
                summary.duplicates += 1
                continue
            if max_items is not None and summary.produced + len(batch) >= max_items:
                stop = True
                break
            seen.add(entry.item_id)
            sent_ids.append(entry.item_id)
            batch.extend((str(record.get(source.key_field) or entry.item_id), record)
                         for record in entry.records)
            _advance_high(state, entry)
        sender.send(topic or source.topic, batch)
        summary.produced += len(batch)
        metrics.inc(source.name, metrics.ITEMS, len(batch))
        if stop:
            # The rest of this page is still to do: resume at this page, skipping what went out.
            # (resume_sent always belongs to the page at ``token``: it is reset on every move.)
            state.resume, state.resume_sent = token, sorted(set(state.resume_sent) | set(sent_ids))
        else:
            state.resume, state.resume_sent, token = page.next_token, [], page.next_token
        cursors.save(key, state)
        if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
            last_progress = time.monotonic()
            progress(f"scrape {source.name}: {summary.pages} pages, {summary.produced} produced, "
                     f"newest {state.run_high or '-'}")
        if stop:
            break
    else:
        _finish(state)
        cursors.save(key, state)
        summary.complete = True
    metrics.inc(source.name, metrics.DUPLICATES, summary.duplicates)
    summary.elapsed_s = time.monotonic() - began
    return summary


def scope_of(source: Source, window: Window) -> str:
    """Cursor scope: the window's, plus the source's own (e.g. its target list) if it has one."""
    extra = getattr(source, "scope_id", "")
    return f"{window.scope()}:{extra}" if extra else window.scope()


def _advance_high(state: CursorState, entry: Entry) -> None:
    if entry.updated is None:
        return
    updated = to_utc(entry.updated)
    high = parse_time(state.run_high)
    if high is None or updated > high:
        state.run_high, state.run_high_ids = updated.isoformat(), [entry.item_id]
    elif updated == high and entry.item_id not in state.run_high_ids:
        state.run_high_ids.append(entry.item_id)


def _finish(state: CursorState) -> None:
    """A completed run moves the watermark to the newest item it saw."""
    high, mark = parse_time(state.run_high), parse_time(state.watermark)
    if high is not None and (mark is None or high > mark):
        state.watermark, state.boundary_ids = state.run_high, list(state.run_high_ids)
    elif high is not None and high == mark:
        state.boundary_ids = sorted(set(state.boundary_ids) | set(state.run_high_ids))
    state.resume, state.resume_sent, state.run_high, state.run_high_ids = None, [], None, []

