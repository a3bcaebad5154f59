"""Where things go: source topics per kind, dead-letter topics per processor."""
from typing import Any

from apache_beam.options.pipeline_options import KafkaStreamsRunnerOptions

from sensory import endpoints
from sensory.deadletter import SCHEMA_VALIDATOR
from sensory.models import SOCIAL
from sensory.topics import (DEAD_LETTERS_MARKET_TOPIC, DEAD_LETTERS_SOCIAL_TOPIC,
                            MARKET_SOURCE_TOPICS, SCHEMA_ERRORS_TOPIC, SOCIAL_SOURCE_TOPICS)


def source_topics(kind: str, topics_option: str = None) -> list[str]:
    """``--topics`` split on commas, or the kind's source topics of the contract."""
    if topics_option:
        return [topic.strip() for topic in topics_option.split(",") if topic.strip()]
    return list(SOCIAL_SOURCE_TOPICS if kind == SOCIAL else MARKET_SOURCE_TOPICS)


def dead_letter_topic(kind: str, dead_letter: dict[str, Any]) -> str:
    """Validation failures go to ``schema-validation-errors``; later stages to the kind's DLQ."""
    if (dead_letter.get("metadata") or {}).get("processor") == SCHEMA_VALIDATOR:
        return SCHEMA_ERRORS_TOPIC
    return DEAD_LETTERS_SOCIAL_TOPIC if kind == SOCIAL else DEAD_LETTERS_MARKET_TOPIC


def bootstrap_servers(options) -> str:
    """``--bootstrap_servers`` (an option Beam itself declares); unset, the local stack's broker."""
    chosen = options.view_as(KafkaStreamsRunnerOptions).bootstrap_servers
    if not chosen or chosen == endpoints.BEAM_DEFAULT_BOOTSTRAP:
        return endpoints.kafka_bootstrap()
    return chosen
