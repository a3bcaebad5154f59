"""Parsing and validating raw messages against the record contract."""
import json
import logging
import time
from typing import Any, Iterable, Union

import apache_beam as beam
import pydantic
from apache_beam import PCollection, pvalue

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

RawInput = Union[SourceMessage, bytes, str]


class _Rejected(Exception):
    """A message that cannot become a record; carries what the dead letter needs."""

    def __init__(self, error_type: str, message: str, original: Any):
        super().__init__(message)
        self.error_type = error_type
        self.original = original


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _describe(errors: list[dict]) -> str:
    """Formats pydantic errors as ``field: problem`` without the offending (maybe PII) input."""
    parts = []
    for error in errors:
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        # Model-level rules have no location and name their field in the message themselves.
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def parse_record(value: Union[bytes, str], model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """Decodes, parses and validates one message.

    Args:
        value: The raw payload.
        model: The pydantic model of the record kind.

    Returns:
        The validated record as a JSON-ready dict.

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
    if not text.strip():
        raise _Rejected(PARSE_ERROR, "message is empty", text)
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        reason = getattr(err, "msg", str(err))
        where = f" at line {err.lineno} column {err.colno}" if hasattr(err, "lineno") else ""
        raise _Rejected(PARSE_ERROR, f"message is not valid JSON: {reason}{where}", text) from None
    if not isinstance(parsed, dict):
        raise _Rejected(NOT_AN_OBJECT,
                        f"message is a JSON {type(parsed).__name__}, expected an object", text)
    try:
        record = model.model_validate(parsed)
    except pydantic.ValidationError as err:
        raise _Rejected(VALIDATION_ERROR,
                        _describe(err.errors(include_input=False, include_url=False)),
                        parsed) from None
    return record.model_dump(mode="json")


class _ValidateFn(beam.DoFn):
    def __init__(self, kind: str):
        super().__init__()
        self._kind = kind
        self._model = RECORD_MODELS[kind]
        self._metrics = None

    def setup(self):
        self._metrics = StageMetrics(VALIDATE_NAMESPACE)

    def process(self, element: RawInput) -> Iterable[Any]:
        self._metrics.received.inc()
        started = time.perf_counter()
        if isinstance(element, SourceMessage):
            value = element.value
            source = source_metadata(element.topic, element.partition, element.offset)
        else:
            value, source = element, source_metadata(None, None, None)
        try:
            record = parse_record(value, self._model)
        except _Rejected as rejected:
            self._metrics.dead_lettered.inc()
            # Only the coordinates and the reason: the payload may hold raw PII.
            _LOGGER.debug("rejected message at %s: %s", source, rejected.error_type)
            yield pvalue.TaggedOutput(DEAD_LETTER_TAG, make_dead_letter(
                rejected.original, error_type=rejected.error_type, message=str(rejected),
                processor=SCHEMA_VALIDATOR, source=source))
            return
        record[RECORD_TYPE_KEY] = self._kind
        record[SOURCE_KEY] = source
        self._metrics.latency_us.update(int((time.perf_counter() - started) * 1e6))
        self._metrics.ok.inc()
        yield record


class ValidateRecords(beam.PTransform[PCollection[RawInput], PCollection[dict]]):
    """Turns raw messages into validated record dicts; every failure becomes a dead letter.

    Input elements are ``SourceMessage`` (Kafka), or bare ``bytes``/``str`` (files, tests).
    Bad UTF-8, text that is not JSON, JSON that is not an object and objects that break a rule
    of the contract all come out as dead letters from ``schema-validator`` whose message names
    the failing field. Every input leaves exactly once, as a record or as a dead letter.
    Returns ``(records, dead_letters)``.

    Args:
        kind: ``"social"`` or ``"market"``.
    """

    def __init__(self, *, kind: str):
        super().__init__()
        if kind not in RECORD_MODELS:
            raise ValueError(f"kind must be one of {sorted(RECORD_MODELS)}, got {kind!r}")
        self._kind = kind

    def expand(self, messages):  # -> (records, dead_letters)
        return split_outputs(messages, "ParseAndValidate", _ValidateFn(self._kind))
