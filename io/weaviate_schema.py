"""Weaviate collections: SocialPost and MarketOrder, our own vectors, HNSW with cosine distance."""
import uuid
from datetime import datetime
from typing import Any, NamedTuple

SOCIAL_POST = "SocialPost"
MARKET_ORDER = "MarketOrder"
COLLECTION_OF_KIND = {"social": SOCIAL_POST, "market": MARKET_ORDER}
HNSW_MAX_CONNECTIONS = 64
# The candidate list an insert searches for its neighbours. On this stack Weaviate shares the
# cores with the model; at 64 an import took 0.70-0.73x the CPU it took at 128, with recall@10
# 1.000 both ways over 15,000 sample posts (bench/weaviate_index.py, docs/performance.md,
# eleventh session). Weaviate cannot change it on an existing collection.
HNSW_EF_CONSTRUCTION = 64
# Fixed namespace: the same post always gets the same UUID, so a replay overwrites it.
UUID_NAMESPACE = uuid.UUID("6f1c1f0e-3f43-4b56-9a52-5e6e5c0a7b11")


class PropertySpec(NamedTuple):
    """A collection property: name and Weaviate data type name (``text``, ``int`` ...)."""

    name: str
    data_type: str


COLLECTIONS: dict[str, list[PropertySpec]] = {
    SOCIAL_POST: [PropertySpec(*p) for p in [
        ("post_id", "text"), ("platform", "text"), ("content", "text"),
        ("author_hash", "text"), ("hashtags", "text[]"), ("location", "text"),
        ("product_category", "text"), ("category_confidence", "number"),
        ("engagement_count", "int"), ("posted_at", "date"), ("weather_condition", "text"),
        ("embedding_model", "text")]],
    MARKET_ORDER: [PropertySpec(*p) for p in [
        ("order_id", "text"), ("product_id", "text"), ("platform", "text"),
        ("merchant_id", "text"), ("product_name", "text"), ("product_category", "text"),
        ("category_confidence", "number"), ("quantity", "int"), ("unit_price", "number"),
        ("total_price", "number"), ("currency", "text"), ("shipping_city", "text"),
        ("created_at", "date"), ("weather_condition", "text"), ("embedding_model", "text")]],
}


def object_uuid(record: dict[str, Any]) -> uuid.UUID:
    """Deterministic UUID from the natural key (post_id, or order_id + product_id)."""
    if record.get("_record_type") == "market":
        return uuid.uuid5(UUID_NAMESPACE, f"market:{record['order_id']}:{record['product_id']}")
    return uuid.uuid5(UUID_NAMESPACE, f"social:{record['post_id']}")


def object_properties(record: dict[str, Any]) -> dict[str, Any]:
    """The properties of a processed record's object (None values left out)."""
    context = record.get("context") or {}
    category = context.get("category") or {}
    weather = context.get("weather") or {}
    derived = {"product_category": category.get("name"),
               "category_confidence": category.get("confidence"),
               "weather_condition": weather.get("condition"),
               "embedding_model": record.get("_embedding_model")}
    kind = COLLECTION_OF_KIND[record["_record_type"]]
    out = {}
    for spec in COLLECTIONS[kind]:
        value = derived[spec.name] if spec.name in derived else record.get(spec.name)
        if value is None:
            continue
        if spec.data_type == "date" and isinstance(value, str):
            value = datetime.fromisoformat(value)
        out[spec.name] = value
    return out
