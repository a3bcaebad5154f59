"""Kafka topics of the record contract (docs/records.md), with partitions and retention."""
from typing import NamedTuple


class TopicSpec(NamedTuple):
    """How a topic is created.

    Attributes:
        partitions: Number of partitions.
        retention_days: ``retention.ms`` expressed in days.
    """

    partitions: int
    retention_days: int


SOCIAL_SOURCE_TOPICS = ("source.social.tiktok", "source.social.facebook")
MARKET_SOURCE_TOPICS = ("source.market.shopify", "source.market.daraz")
WEATHER_TOPIC = "context.weather"
ENRICHED_SOCIAL_TOPIC = "enriched.social.contextualized"
ENRICHED_MARKET_TOPIC = "enriched.market.contextualized"
SCHEMA_ERRORS_TOPIC = "schema-validation-errors"
DEAD_LETTERS_SOCIAL_TOPIC = "dead-letters-social"
DEAD_LETTERS_MARKET_TOPIC = "dead-letters-market"

TOPICS: dict[str, TopicSpec] = {
    **{name: TopicSpec(6, 7) for name in SOCIAL_SOURCE_TOPICS},
    **{name: TopicSpec(4, 7) for name in MARKET_SOURCE_TOPICS},
    WEATHER_TOPIC: TopicSpec(2, 30),
    ENRICHED_SOCIAL_TOPIC: TopicSpec(4, 14),
    ENRICHED_MARKET_TOPIC: TopicSpec(4, 14),
    SCHEMA_ERRORS_TOPIC: TopicSpec(2, 30),
    DEAD_LETTERS_SOCIAL_TOPIC: TopicSpec(2, 14),
    DEAD_LETTERS_MARKET_TOPIC: TopicSpec(2, 14),
}
