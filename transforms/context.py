"""Context enrichment: product category with a confidence, and Asia/Dhaka temporal context."""
import json
import re
from datetime import datetime
from importlib import resources
from typing import Any, Mapping, Optional, Sequence
from zoneinfo import ZoneInfo

import apache_beam as beam
from apache_beam import PCollection

from sensory.deadletter import CONTEXT_ENRICHER
from sensory.models import MARKET, RECORD_TYPE_KEY, SOCIAL
from sensory.transforms.stage import RecordStageFn, split_outputs

CONTEXT_NAMESPACE = "sensory.context_enricher"
CONTEXT_KEY = "context"
GENERAL_CATEGORY = "general"
DHAKA = ZoneInfo("Asia/Dhaka")
# Bangladesh's weekend is Friday and Saturday (Monday is 0).
WEEKEND_DAYS = frozenset({4, 5})
BUSINESS_HOURS = (9, 18)  # local time, [start, end) on working days
_SEASONS = {12: "winter", 1: "winter", 2: "winter", 3: "summer", 4: "summer", 5: "summer",
            6: "monsoon", 7: "monsoon", 8: "monsoon", 9: "monsoon", 10: "autumn",
            11: "autumn"}
# English names whatever the worker's locale (strftime's %A follows LC_TIME).
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EVENT_TIME_FIELD = {SOCIAL: "posted_at", MARKET: "created_at"}


def load_category_table(path: Optional[str] = None) -> dict[str, list[str]]:
    """Reads a category → keywords table (JSON); the bundled one when ``path`` is None.

    Args:
        path: A JSON file mapping category names to keyword lists; keys starting with ``_``
            are comments.

    Returns:
        The table, in file order (order breaks ties).
    """
    if path is None:
        text = resources.files("sensory.transforms").joinpath("data/categories.json").read_text()
    else:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    table = {name: words for name, words in json.loads(text).items() if not name.startswith("_")}
    for name, words in table.items():
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise ValueError(f"category {name!r}: keywords must be a list of non-empty strings")
    return table


def _word_pattern(words: Sequence[str]) -> re.Pattern:
    # Longest first, so "gaming laptop" wins over "laptop" where both start.
    return re.compile(r"(?<!\w)(?:%s)(?!\w)" % "|".join(
        re.escape(word.lower()) for word in sorted(words, key=len, reverse=True)))


_TOKEN_RE = re.compile(r"\w+")


def _separable(table: Mapping[str, Sequence[str]]) -> bool:
    """Whether one alternation of all keywords finds exactly what one per category finds.

    Two matches of different categories can only overlap (or start at one place) where their
    keywords share a whole word, given every keyword starts and ends with a word character.
    Without such a shared word, scanning once for all keywords gives each category the
    same hits as scanning for its own.
    """
    owner: dict[str, str] = {}
    for name, words in table.items():
        for word in words:
            lowered = word.lower()
            if not (_TOKEN_RE.match(lowered) and re.search(r"\w\Z", lowered)):
                return False
            for token in _TOKEN_RE.findall(lowered):
                if owner.setdefault(token, name) != name:
                    return False
    return True


class CategoryPatterns:
    """A compiled category → keywords table.

    Scans text once for all keywords where that provably gives each category the hits of its
    own scan (:func:`_separable`; true of the bundled table), else once per category.

    Args:
        table: Category → keywords, in tie-breaking order.
    """

    def __init__(self, table: Mapping[str, Sequence[str]]):
        self._names = [name for name, words in table.items() if words]
        self._per_category = [(name, _word_pattern(table[name])) for name in self._names]
        self._combined = None
        if self._names and _separable(table):
            self._combined = _word_pattern([word for name in self._names for word in table[name]])
            self._category_of = {word.lower(): name for name in self._names
                                 for word in table[name]}

    def hits(self, lowered: str) -> dict[str, list[str]]:
        """Distinct keywords found in lower-cased text, sorted, for each category with any, in
        table order."""
        if self._combined is None:
            found = {name: pattern.findall(lowered) for name, pattern in self._per_category}
            return {name: sorted(set(words)) for name, words in found.items() if words}
        words = self._combined.findall(lowered)
        if not words:
            return {}
        by_category: dict[str, set] = {}
        for word in words:
            by_category.setdefault(self._category_of[word], set()).add(word)
        if len(by_category) == 1:
            return {name: sorted(found) for name, found in by_category.items()}
        return {name: sorted(by_category[name]) for name in self._names if name in by_category}


def _compile(table: Mapping[str, Sequence[str]]) -> CategoryPatterns:
    return CategoryPatterns(table)


def categorize(text: str, patterns: CategoryPatterns) -> dict[str, Any]:
    """Picks the category with most distinct keyword hits.

    Confidence grows with the winner's hits (one hit 0.75, two or more 1.0) and shrinks with
    its share of all hits, so text that mentions two categories equally scores lower.

    Args:
        text: The text to classify.
        patterns: Compiled table from ``_compile``.

    Returns:
        ``{"name": category, "confidence": float in [0, 1], "matched": [keywords]}``.
    """
    hits = patterns.hits(text.lower())
    if not hits:
        return {"name": GENERAL_CATEGORY, "confidence": 0.0, "matched": []}
    if len(hits) == 1:
        (name, matched), = hits.items()
        best = total = len(matched)
    else:
        total = sum(len(words) for words in hits.values())
        name = max(hits, key=lambda category: len(hits[category]))  # first wins a tie
        best = len(hits[name])
    confidence = min(1.0, 0.5 + 0.25 * best) * best / total
    return {"name": name, "confidence": round(confidence, 3), "matched": hits[name]}


def temporal_context(event_time: str) -> dict[str, Any]:
    """Local (Asia/Dhaka) time facts about an ISO-8601 instant.

    Args:
        event_time: An ISO-8601 date-time with offset (as the models emit it).

    Returns:
        hour, day_of_week, is_weekend, is_business_hours, season and the local time.
    """
    local = datetime.fromisoformat(event_time).astimezone(DHAKA)
    weekend = local.weekday() in WEEKEND_DAYS
    return {
        "local_time": local.isoformat(timespec="seconds"),
        "hour": local.hour,
        "day_of_week": _DAY_NAMES[local.weekday()],
        "is_weekend": weekend,
        "is_business_hours": not weekend and BUSINESS_HOURS[0] <= local.hour < BUSINESS_HOURS[1],
        "season": _SEASONS[local.month],
    }


def category_text(record: Mapping[str, Any]) -> str:
    """The text a record is classified by: social content + hashtags + mentions, or product."""
    if record.get(RECORD_TYPE_KEY) == MARKET:
        return str(record.get("product_name") or "")
    parts = [str(record.get("content") or "")]
    parts += [tag.lstrip("#") for tag in record.get("hashtags") or []]
    parts += list(record.get("product_mentions") or [])
    return " ".join(parts)


class _ContextFn(RecordStageFn):
    def __init__(self, table: dict[str, list[str]]):
        super().__init__(namespace=CONTEXT_NAMESPACE, processor=CONTEXT_ENRICHER)
        self._table = table
        self._patterns = None

    def setup(self):
        super().setup()
        self._patterns = _compile(self._table)

    def transform_record(self, record: dict[str, Any]) -> dict[str, Any]:
        kind = record.get(RECORD_TYPE_KEY)
        if kind not in _EVENT_TIME_FIELD:
            raise ValueError(f"{RECORD_TYPE_KEY}: unknown record type {kind!r}")
        context = dict(record.get(CONTEXT_KEY) or {})
        context["category"] = categorize(category_text(record), self._patterns)
        context["temporal"] = temporal_context(record[_EVENT_TIME_FIELD[kind]])
        return {**record, CONTEXT_KEY: context}


class AddContext(beam.PTransform[PCollection[dict], PCollection[dict]]):
    """Adds ``context.category`` and ``context.temporal`` to validated records.

    Returns ``(records, dead_letters)``; dead letters name ``context-enricher``.

    Args:
        categories: Category → keywords table; defaults to the bundled
            ``transforms/data/categories.json``.
    """

    def __init__(self, *, categories: Optional[Mapping[str, Sequence[str]]] = None):
        super().__init__()
        table = dict(categories) if categories is not None else load_category_table()
        if not table:
            raise ValueError("categories must name at least one category")
        _compile(table)  # fail at construction on a bad table, not on the workers
        self._table = {name: list(words) for name, words in table.items()}

    def stage_fn(self) -> beam.DoFn:
        """The per-record DoFn, for ``ChainStages``."""
        return _ContextFn(self._table)

    def expand(self, records):  # -> (records, dead_letters)
        return split_outputs(records, "Enrich", self.stage_fn())
