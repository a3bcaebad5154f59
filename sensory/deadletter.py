"""The dead-letter envelope of the record contract, and the names of the stages that emit it."""
from datetime import datetime, timezone
from typing import Any, Mapping, Optional

# Processor names, one per stage that can fail (docs/records.md).
SCHEMA_VALIDATOR = "schema-validator"
PRIVACY_SHIELD = "privacy-shield"
CONTEXT_ENRICHER = "context-enricher"
EMBEDDING_SERVICE = "embedding-service"
SNOWFLAKE_SINK = "snowflake-sink"
WEAVIATE_SINK = "weaviate-sink"

# Tagged-output name used by every transform that emits dead letters.
DEAD_LETTER_TAG = "dead_letters"

# Key under which a validated record keeps where it came from (topic, partition, offset).
SOURCE_KEY = "_source"


def source_metadata(topic: Optional[str], partition: Optional[int],
                    offset: Optional[int]) -> dict[str, Any]:
    """Builds the source coordinates that records carry and dead letters report.

    Args:
        topic: Source topic, ``None`` for files.
        partition: Kafka partition, ``None`` for files.
        offset: Kafka offset, or line number in file mode.

    Returns:
        A dict with keys ``topic``, ``partition`` and ``offset``.
    """
    return {"topic": topic, "partition": partition, "offset": offset}


def make_dead_letter(original_data: Any, *, error_type: str, message: str, processor: str,
                     source: Optional[Mapping[str, Any]] = None, retry_count: int = 0,
                     now: Optional[datetime] = None) -> dict[str, Any]:
    """Wraps a failed input in the contract's dead-letter envelope.

    The caller is responsible for ``original_data`` and ``message`` holding no raw PII: messages
    name fields, never values, and the privacy shield scrubs ``original_data`` before any sink.

    Args:
        original_data: The input as received: a dict if it was a JSON object, else a string.
        error_type: Short class of the error, e.g. ``ValidationError``.
        message: Readable explanation naming the failing field.
        processor: The stage that failed, one of the processor constants of this module.
        source: Source coordinates as built by :func:`source_metadata`.
        retry_count: How many times this input was replayed already.
        now: The failure time; defaults to the current UTC time.

    Returns:
        The dead letter as a JSON-serialisable dict.
    """
    source = source or {}
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "original_data": original_data,
        "error": {
            "type": error_type,
            "message": message,
            "timestamp": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        },
        "metadata": {
            "source_topic": source.get("topic"),
            "partition": source.get("partition"),
            "offset": source.get("offset"),
            "processor": processor,
            "retry_count": retry_count,
        },
    }
