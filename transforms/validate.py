"""Parsing and validating raw messages against the record contract.

Hostile input is expected (docs/records.md, "Hostile input"): messages over
``--max_message_bytes`` are dead-lettered with their size and SHA-256 only; a leading UTF-8
BOM is ignored; NaN, Infinity, numbers that overflow to infinity (``1e309``), duplicate keys and
nesting deeper than :data:`MAX_DEPTH` are rejected; nothing can escape as an exception.
"""
import hashlib
import json
import logging
import math
import time
from typing import Any, Iterable, Optional, Union

import apache_beam as beam
import orjson
import pydantic
from apache_beam import PCollection, pvalue
from apache_beam.metrics import Metrics

from sensory.deadletter import DEAD_LETTER_TAG, SCHEMA_VALIDATOR, SOURCE_KEY, make_dead_letter, \
    source_metadata
from sensory.messages import SourceMessage
from sensory.models import RECORD_MODELS, RECORD_TYPE_KEY
from sensory.transforms.stage import StageMetrics, split_outputs

_LOGGER = logging.getLogger(__name__)

VALIDATE_NAMESPACE = "sensory.schema_validator"

# Error types named in dead letters.
DECODE_ERROR = "DecodeError"
PARSE_ERROR = "ParseError"
NOT_AN_OBJECT = "NotAnObject"
VALIDATION_ERROR = "ValidationError"
TOO_LARGE = "MessageTooLarge"

DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
# No record of the contract is nested more than a few levels; deeper input is an attack or a
# bug, and recursing into it (pydantic, the shield, json.dumps) could exhaust the stack.
MAX_DEPTH = 64
_BOM = "\ufeff"
# The fast path's view of a message: JSON whitespace dropped and every digit a "0", so one C
# pass answers "is there a run of 19 digits?" and "how many keys end here?".
_SQUEEZE = bytes.maketrans(b"0123456789", b"0" * 10)
_JSON_WHITESPACE = b" \t\n\r"
_LONG_INTEGER = b"0" * 19

RawInput = Union[SourceMessage, bytes, str]


class _Rejected(Exception):
    """A message that cannot become a record; carries what the dead letter needs."""

    def __init__(self, error_type: str, message: str, original: Any):
        super().__init__(message)
        self.error_type = error_type
        self.original = original


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError("a number is too large for a double")
    return value


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey("an object has a duplicate key")
    return out


def _structure_problem(value: Any, limit: int) -> Optional[str]:
    """Why a parsed message cannot be a record whatever its fields, or ``None``.

    Iterative (no recursion): nesting deeper than ``limit``, or a string (key or value) with a
    lone surrogate ("\\ud800" is valid JSON but no UTF-8 encoder, Beam's coders included, can
    write it).
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
        elif isinstance(item, (dict, list)):
            if depth > limit:
                return f"message nests deeper than {limit} levels"
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def _may_have_structure_problem(text: str, decoded: bool) -> bool:
    """Cheap test on the raw text: ``False`` proves ``_structure_problem`` would find nothing.

    Nesting deeper than :data:`MAX_DEPTH` needs more than that many ``{``/``[`` characters, and
    strings decoded strictly from UTF-8 hold a surrogate only through a ``\\uD8xx``-``\\uDFxx``
    escape. Most messages pass both tests, so the walk over every value is skipped for them.

    Args:
        text: The message as JSON text.
        decoded: Whether ``text`` came from bytes decoded as UTF-8 (so it holds no surrogate
            itself).
    """
    if text.count("{") + text.count("[") > MAX_DEPTH:
        return True
    if "\\ud" in text or "\\uD" in text:
        return True
    if not decoded and not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def _size_bytes(value: Union[bytes, str]) -> int:
    return len(value) if isinstance(value, bytes) else len(value.encode("utf-8", "surrogatepass"))


def oversized_original(value: Union[bytes, str]) -> dict[str, Any]:
    """What a dead letter keeps of an oversized message: its size and SHA-256, no content."""
    data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return {"size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _describe(errors: list[dict]) -> str:
    """Formats pydantic errors as ``field: problem`` without the offending (maybe PII) input."""
    parts = []
    for error in errors:
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        # Model-level rules have no location and name their field in the message themselves.
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def _parse_strict(value: Union[bytes, str]) -> dict[str, Any]:
    """The reference parser: decodes and parses with every rule of "Hostile input".

    Args:
        value: The raw payload (already within ``--max_message_bytes``).

    Returns:
        The parsed JSON object.

    Raises:
        _Rejected: With the dead letter's error type, message and original data.
    """
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as err:
            raise _Rejected(DECODE_ERROR, f"message is not valid UTF-8 (byte {err.start})",
                            value.decode("utf-8", errors="replace")) from None
    else:
        text = value
    text = text.removeprefix(_BOM)
    if not text.strip():
        raise _Rejected(PARSE_ERROR, "message is empty", text)
    try:
        parsed = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                            object_pairs_hook=_object_without_duplicates)
    except RecursionError:
        raise _Rejected(PARSE_ERROR, f"message nests deeper than {MAX_DEPTH} levels",
                        text) from None
    except ValueError as err:
        reason = getattr(err, "msg", str(err))
        where = f" at line {err.lineno} column {err.colno}" if hasattr(err, "lineno") else ""
        raise _Rejected(PARSE_ERROR, f"message is not valid JSON: {reason}{where}", text) from None
    if not isinstance(parsed, dict):
        raise _Rejected(NOT_AN_OBJECT,
                        f"message is a JSON {type(parsed).__name__}, expected an object", text)
    problem = _structure_problem(parsed, MAX_DEPTH) \
        if _may_have_structure_problem(text, isinstance(value, bytes)) else None
    if problem:
        raise _Rejected(PARSE_ERROR, problem, text)
    return parsed


def _key_count(value: Any) -> int:
    """How many keys all objects inside a parsed value hold together."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            count += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _parse_fast(value: Union[bytes, str]) -> Optional[dict[str, Any]]:
    """orjson's parse of a message where it provably equals :func:`_parse_strict`'s, else None.

    orjson already rejects everything the strict parser rejects except three things, each
    ruled out here from the raw bytes: a duplicate key (it keeps the last), an integer of
    more than 64 bits (it reads it as a float) and nesting deeper than :data:`MAX_DEPTH` (its
    limit is 1024). Every message it cannot vouch for, good or bad, takes the strict path,
    which also words the dead letter.

    Args:
        value: The raw payload (already within ``--max_message_bytes``).

    Returns:
        The parsed JSON object, or None where only the strict parser can tell.
    """
    if isinstance(value, str):
        try:
            value = value.encode("utf-8")
        except UnicodeEncodeError:
            return None
    squeezed = value.translate(_SQUEEZE, _JSON_WHITESPACE)
    # Any integer orjson would read as a float (over 64 bits) has 19 digits or more.
    if _LONG_INTEGER in squeezed:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    objects = value.count(b"{")
    if objects + value.count(b"[") > MAX_DEPTH:
        return None
    # Every key in the text ends in `"` + `:` once whitespace is dropped; other matches (an
    # escaped quote before a colon in a string) only add. Equal counts prove no key was
    # written twice.
    keys = len(parsed) if objects == 1 else _key_count(parsed)
    if keys != squeezed.count(b'":'):
        return None
    return parsed


def parse_record(value: Union[bytes, str], model: type[pydantic.BaseModel], *,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Decodes, parses and validates one message.

    Args:
        value: The raw payload.
        model: The pydantic model of the record kind.
        max_message_bytes: Larger payloads are rejected without being decoded or kept.

    Returns:
        The validated record as a JSON-ready dict.

    Raises:
        _Rejected: With the dead letter's error type, message and original data.
    """
    size = _size_bytes(value)
    if size > max_message_bytes:
        raise _Rejected(TOO_LARGE, f"message is {size} bytes, over --max_message_bytes="
                        f"{max_message_bytes}; only its size and SHA-256 are kept",
                        oversized_original(value))
    parsed = _parse_fast(value)
    if parsed is None:
        parsed = _parse_strict(value)
    try:
        record = model.model_validate(parsed)
    except pydantic.ValidationError as err:
        raise _Rejected(VALIDATION_ERROR,
                        _describe(err.errors(include_input=False, include_url=False)),
                        parsed) from None
    return record.model_dump(mode="json")


class _ValidateFn(beam.DoFn):
    def __init__(self, kind: str, max_message_bytes: int):
        super().__init__()
        self._kind = kind
        self._model = RECORD_MODELS[kind]
        self._max_message_bytes = max_message_bytes
        self._metrics = None
        self._too_large = None

    def setup(self):
        self._metrics = StageMetrics(VALIDATE_NAMESPACE)
        self._too_large = Metrics.counter(VALIDATE_NAMESPACE, "too_large")

    def process(self, element: RawInput) -> Iterable[Any]:
        yield self.apply(element)

    def apply(self, element: RawInput) -> Any:
        """Validates one message: the record, or a dead letter tagged ``DEAD_LETTER_TAG``."""
        self._metrics.received.inc()
        started = time.perf_counter()
        if isinstance(element, SourceMessage):
            value = element.value
            source = source_metadata(element.topic, element.partition, element.offset)
        else:
            value, source = element, source_metadata(None, None, None)
        try:
            record = parse_record(value, self._model, max_message_bytes=self._max_message_bytes)
        except _Rejected as rejected:
            self._metrics.dead_lettered.inc()
            if rejected.error_type == TOO_LARGE:
                self._too_large.inc()
            # Only the coordinates and the reason: the payload may hold raw PII.
            _LOGGER.debug("rejected message at %s: %s", source, rejected.error_type)
            return pvalue.TaggedOutput(DEAD_LETTER_TAG, make_dead_letter(
                rejected.original, error_type=rejected.error_type, message=str(rejected),
                processor=SCHEMA_VALIDATOR, source=source))
        record[RECORD_TYPE_KEY] = self._kind
        record[SOURCE_KEY] = source
        self._metrics.latency_us.update(int((time.perf_counter() - started) * 1e6))
        self._metrics.ok.inc()
        return record


class ValidateRecords(beam.PTransform[PCollection[RawInput], PCollection[dict]]):
    """Turns raw messages into validated record dicts; every failure becomes a dead letter.

    Input elements are ``SourceMessage`` (Kafka), or bare ``bytes``/``str`` (files, tests).
    Bad UTF-8, text that is not JSON, JSON that is not an object and objects that break a rule
    of the contract all come out as dead letters from ``schema-validator`` whose message names
    the failing field. Every input leaves exactly once, as a record or as a dead letter.
    Returns ``(records, dead_letters)``.

    Messages over ``max_message_bytes`` become ``MessageTooLarge`` dead letters that keep only
    the size and SHA-256 of the body.

    Args:
        kind: ``"social"`` or ``"market"``.
        max_message_bytes: Largest message accepted, in bytes (default 1 MiB).
    """

    def __init__(self, *, kind: str, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        super().__init__()
        if kind not in RECORD_MODELS:
            raise ValueError(f"kind must be one of {sorted(RECORD_MODELS)}, got {kind!r}")
        if not isinstance(max_message_bytes, int) or max_message_bytes < 1:
            raise ValueError(f"max_message_bytes must be a positive integer, "
                             f"got {max_message_bytes!r}")
        self._kind = kind
        self._max_message_bytes = max_message_bytes

    def stage_fn(self) -> beam.DoFn:
        """The per-message DoFn, for ``ChainStages``."""
        return _ValidateFn(self._kind, self._max_message_bytes)

    def expand(self, messages):  # -> (records, dead_letters)
        return split_outputs(messages, "ParseAndValidate", self.stage_fn())
