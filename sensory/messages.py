"""The message type every source (Kafka, files) hands to the pipelines."""
from typing import NamedTuple, Optional


class SourceMessage(NamedTuple):
    """One raw message as read from its source, before any parsing.

    Kafka readers fill every field; file mode leaves the Kafka coordinates empty.

    Attributes:
        value: The message payload, as received.
        topic: Source topic (``None`` for files).
        partition: Kafka partition (``None`` for files).
        offset: Kafka offset, or the line number in file mode.
        timestamp_ms: Broker or producer timestamp in epoch milliseconds.
        key: Message key.
        headers: Message headers as (name, value) pairs.
    """

    value: bytes
    topic: Optional[str] = None
    partition: Optional[int] = None
    offset: Optional[int] = None
    timestamp_ms: Optional[int] = None
    key: Optional[bytes] = None
    headers: tuple = ()
