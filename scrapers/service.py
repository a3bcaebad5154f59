"""Runs a scraper once or on a schedule: Kafka producer, cursor store, summary lines.

The CLI (``sensory scrape ...``) and the integration tests both come through :func:`scrape`.
"""
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Optional

from sensory.scrapers.base import Source, Window
from sensory.scrapers.cursor import CursorStore, cursor_key
from sensory.scrapers.errors import ScrapeError, SourceAuthError
from sensory.scrapers.http import Classifier, PoliteClient, Politeness, default_classify, new_breaker
from sensory.scrapers.runner import KafkaBatchProducer, Summary, run_once, scope_of

_LOGGER = logging.getLogger(__name__)

_EVERY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

SourceFactory = Callable[[PoliteClient], ContextManager[Source]]


def parse_every(text: str) -> float:
    """``15m``, ``30s``, ``1h``, ``1d`` or plain seconds → seconds.

    Raises:
        ValueError: Not a positive duration.
    """
    match = _EVERY_RE.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--every {text!r}: expected a duration such as 30s, 15m, 1h")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


@dataclass
class ScrapeSettings:
    """Where a scrape publishes and keeps its cursor, and how far it goes.

    Attributes:
        bootstrap_servers: Kafka bootstrap servers.
        redis_url: Redis holding the cursor.
        window: ``--since``/``--until``.
        max_items: Stop after this many records per run.
        topic: Topic override (default: the source's topic).
        every_s: Seconds between runs; None runs once.
        runs: Stop after this many runs in ``--every`` mode (None: forever).
        reset_cursor: Forget the cursor before the first run.
        politeness: Rate limits, retries, breaker, rotation.
    """

    bootstrap_servers: str
    redis_url: str
    window: Window = field(default_factory=Window)
    max_items: Optional[int] = None
    topic: Optional[str] = None
    every_s: Optional[float] = None
    runs: Optional[int] = None
    reset_cursor: bool = False
    politeness: Politeness = field(default_factory=Politeness)


def scrape(name: str, open_source: SourceFactory, settings: ScrapeSettings, *,
           classify: Classifier = default_classify,
           echo: Callable[[str], None] = print) -> list[Summary]:
    """Runs source ``name`` once, or every ``settings.every_s`` seconds.

    In schedule mode a failed run is reported and the next one still happens (the circuit
    breaker, kept across runs, stops hammering a source that keeps failing); a bad credential
    stops the loop. Once, a failure raises.

    Returns:
        The summaries of the runs.

    Raises:
        ScrapeError: A run failed (once mode), or credentials were refused.
    """
    from confluent_kafka import Producer  # pylint: disable=import-outside-toplevel
    from sensory.io.kafka_admin import ensure_topics  # pylint: disable=import-outside-toplevel
    from sensory.io.kafka_write import producer_config  # pylint: disable=import-outside-toplevel
    from sensory.topics import TOPICS, TopicSpec  # pylint: disable=import-outside-toplevel

    breaker = new_breaker(settings.politeness)
    summaries: list[Summary] = []
    producer = Producer(producer_config(settings.bootstrap_servers))
    with contextlib.ExitStack() as stack:
        cursors = stack.enter_context(CursorStore(settings.redis_url))
        client = stack.enter_context(PoliteClient(name, settings.politeness, classify=classify,
                                                  breaker=breaker))
        source = stack.enter_context(open_source(client))
        topic = settings.topic or source.topic
        ensure_topics(settings.bootstrap_servers, {topic: TOPICS.get(topic, TopicSpec(4, 7))})
        if settings.reset_cursor:
            cursors.reset(cursor_key(name, scope_of(source, settings.window)))
        sender = KafkaBatchProducer(producer)
        while True:
            try:
                summary = run_once(source, sender, cursors, window=settings.window,
                                   max_items=settings.max_items, topic=topic, progress=echo)
                summaries.append(summary)
                echo(summary.line())
            except SourceAuthError:
                raise
            except ScrapeError as err:
                if settings.every_s is None:
                    raise
                echo(f"scrape {name}: run failed: {err}")
                summaries.append(Summary(name))
            if settings.every_s is None or (settings.runs and len(summaries) >= settings.runs):
                return summaries
            time.sleep(settings.every_s)
