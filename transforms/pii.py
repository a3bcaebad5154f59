"""The privacy shield: keyed hashing of structured PII and tokenising of PII in free text.

``ShieldPII`` runs on validated records; ``ScrubDeadLetters`` runs on every dead letter before
it reaches a sink, whatever stage produced it, so a record that failed before the shield (or
never parsed at all) leaves no raw PII behind either.

The key is read on the worker in ``setup()`` (from ``--pii_key_file`` or ``$SENSORY_PII_KEY``)
rather than captured at construction, so it never travels inside the pickled pipeline graph.
"""
import logging
import re
from typing import Any, Iterable, Optional

import apache_beam as beam
from apache_beam import PCollection

from sensory.deadletter import PRIVACY_SHIELD, make_dead_letter
from sensory.settings import load_pii_key
from sensory.transforms.pii_text import ANONYMIZATION_VERSION, PII_FIELDS, PIIHasher
from sensory.transforms.stage import DEFAULT_CHAIN_BATCH, ChainFn, RecordStageFn, StageMetrics, \
    split_outputs

_LOGGER = logging.getLogger(__name__)

SHIELD_NAMESPACE = "sensory.privacy_shield"
SCRUB_NAMESPACE = "sensory.dead_letter_scrubber"

# Identifiers, enums and timestamps: tokenising digits inside them would break joins.
_NOT_FREE_TEXT = frozenset({
    "platform", "post_id", "order_id", "merchant_id", "product_id", "currency",
    "posted_at", "created_at",
})

# Every kind of free-text PII the hasher recognises (phones, cards, IDs, e-mails) holds a digit
# (any script: \d is Unicode-aware) or an at sign; text with neither skips the recognisers.
# Most strings (hashtags, cities, many posts) have neither, and scrubbing was the costliest step.
_MAY_HOLD_PII = re.compile(r"[\d@＠]").search
# Values that hold no text (bool is a subclass of int, but type() is exact).
_SCALARS = frozenset({int, float, bool})


# A whole string that is an ISO-8601 date-time holds a date and a time, nothing else. The
# recognisers leave one without a fraction of a second as it is (tested) at the cost of
# libphonenumber's matcher for its 12+ digits, and read a fraction ("08.123456") as a landline
# number, a false positive. Dead letters carry one in every record-shaped payload.
_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}"
                           r"(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?").fullmatch


def _scrub_str(hasher: PIIHasher, text: str) -> str:
    if not _MAY_HOLD_PII(text) or _ISO_DATETIME(text):
        return text
    return hasher.scrub_text(text)


def _scrub_value(hasher: PIIHasher, value: Any) -> Any:
    """Recursively hashes PII keys and tokenises PII in every string of a JSON value."""
    if isinstance(value, str):
        return _scrub_str(hasher, value)
    if isinstance(value, list):
        return [_scrub_value(hasher, item) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in PII_FIELDS:
                out[PII_FIELDS[key]] = hasher.hash_field(key, item)
            else:
                out[_scrub_str(hasher, key)] = _scrub_value(hasher, item)
        return out
    return value


class _ShieldFn(RecordStageFn):
    def __init__(self, key_file: Optional[str]):
        super().__init__(namespace=SHIELD_NAMESPACE, processor=PRIVACY_SHIELD)
        self._key_file = key_file
        self._hasher = None

    def setup(self):
        super().setup()
        self._hasher = PIIHasher(load_pii_key(self._key_file))

    def transform_record(self, record: dict[str, Any]) -> dict[str, Any]:
        hasher = self._hasher
        out = {}
        for field, value in record.items():
            # Numbers, missing values and plain strings skip _scrub_value's type dispatch.
            kind = type(value)
            if field in PII_FIELDS:
                out[PII_FIELDS[field]] = hasher.hash_field(field, value)
            elif value is None or kind in _SCALARS or field.startswith("_") \
                    or field in _NOT_FREE_TEXT:
                out[field] = value
            elif kind is str:
                out[field] = hasher.scrub_text(value) if _MAY_HOLD_PII(value) else value
            else:
                out[field] = _scrub_value(hasher, value)
        out["_anonymized"] = True
        out["_anonymization_version"] = ANONYMIZATION_VERSION
        return out


class ShieldPII(beam.PTransform[PCollection[dict], PCollection[dict]]):
    """Hashes structured PII fields and tokenises PII in free text of validated records.

    ``author`` becomes ``author_hash``, ``customer_phone`` becomes ``customer_phone_hash`` and so
    on (HMAC-SHA256, phone numbers normalised first); phone numbers, e-mails, Luhn-valid card
    numbers and 10/13/17-digit national IDs in other text fields become ``PHONE_<hash>``-style
    tokens. Returns ``(records, dead_letters)``.

    Args:
        key_file: File holding the HMAC key; ``None`` reads ``$SENSORY_PII_KEY`` on the worker.
    """

    def __init__(self, *, key_file: Optional[str] = None):
        super().__init__()
        if key_file is not None and not isinstance(key_file, str):
            raise TypeError("key_file must be a path string or None")
        self._key_file = key_file

    def stage_fn(self) -> beam.DoFn:
        """The per-record DoFn, for ``ChainStages``."""
        return _ShieldFn(self._key_file)

    def expand(self, records):  # -> (records, dead_letters)
        return split_outputs(records, "HashPII", self.stage_fn())


class _ScrubDeadLetterFn(beam.DoFn):
    def __init__(self, key_file: Optional[str]):
        super().__init__()
        self._key_file = key_file
        self._hasher = None
        self._metrics = None

    def setup(self):
        self._hasher = PIIHasher(load_pii_key(self._key_file))
        self._metrics = StageMetrics(SCRUB_NAMESPACE)

    def process(self, dead_letter: dict[str, Any]) -> Iterable[dict[str, Any]]:
        yield self.apply(dead_letter)

    def apply(self, dead_letter: dict[str, Any]) -> dict[str, Any]:
        """The scrubbed dead letter (never fails: see ``ScrubDeadLetters``)."""
        self._metrics.received.inc()
        try:
            original = dead_letter.get("original_data")
            if isinstance(original, str):
                original = self._hasher.scrub_text(self._hasher.scrub_key_values(original))
            else:
                original = _scrub_value(self._hasher, original)
            error = dict(dead_letter.get("error") or {})
            error["message"] = self._hasher.scrub_text(str(error.get("message", "")))
            scrubbed = {**dead_letter, "original_data": original, "error": error}
        except Exception as err:  # pylint: disable=broad-except
            # Never pass on what could not be scrubbed: keep the envelope, drop the payload.
            self._metrics.dead_lettered.inc()
            _LOGGER.error("could not scrub a dead letter (%s); its payload is withheld",
                          type(err).__name__)
            metadata = dead_letter.get("metadata") or {}
            scrubbed = make_dead_letter(
                f"<withheld: scrubbing failed with {type(err).__name__}>",
                error_type=type(err).__name__, message="dead letter could not be scrubbed",
                processor=PRIVACY_SHIELD,
                source={"topic": metadata.get("source_topic"),
                        "partition": metadata.get("partition"),
                        "offset": metadata.get("offset")})
        else:
            self._metrics.ok.inc()
        return scrubbed


class ScrubDeadLetters(beam.PTransform[PCollection[dict], PCollection[dict]]):
    """Scrubs PII from dead letters the same way the shield treats records.

    Dict payloads get their PII keys hashed and every string tokenised; string payloads (input
    that was not JSON, or not UTF-8) get ``"author": "..."``-style values hashed and free-text
    PII tokenised. Never fails: a dead letter that cannot be scrubbed loses its payload.

    Args:
        key_file: File holding the HMAC key; ``None`` reads ``$SENSORY_PII_KEY`` on the worker.
        batch_size: Dead letters scrubbed at once (``ChainFn``: CPU caches).
    """

    def __init__(self, *, key_file: Optional[str] = None,
                 batch_size: int = DEFAULT_CHAIN_BATCH):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self._key_file = key_file
        self._batch_size = batch_size

    def expand(self, dead_letters: PCollection[dict]) -> PCollection[dict]:
        return dead_letters | "Scrub" >> beam.ParDo(
            ChainFn([_ScrubDeadLetterFn(self._key_file)], self._batch_size))
