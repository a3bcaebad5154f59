"""The raw-data schema in Snowflake: tables, natural keys, views, and record → row mapping."""
import json
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, NamedTuple, Optional

import orjson

SOCIAL_POSTS = "SOCIAL_POSTS"
MARKET_ORDERS = "MARKET_ORDERS"
PRICE_HISTORY = "PRICE_HISTORY"
WEATHER_LOGS = "WEATHER_LOGS"

_RECORD_COLUMNS = [
    ("PRODUCT_CATEGORY", "VARCHAR"), ("CATEGORY_CONFIDENCE", "FLOAT"), ("CONTEXT", "VARIANT"),
    ("WEATHER", "VARIANT"), ("HAS_EMBEDDING", "BOOLEAN"), ("EMBEDDING_MODEL", "VARCHAR"),
    ("ANONYMIZED", "BOOLEAN"), ("ANONYMIZATION_VERSION", "VARCHAR"),
    ("EVENT_TIME", "TIMESTAMP_TZ"), ("INGESTED_AT", "TIMESTAMP_TZ"),
    ("KAFKA_TOPIC", "VARCHAR"), ("KAFKA_PARTITION", "NUMBER"), ("KAFKA_OFFSET", "NUMBER"),
]


class TableSpec(NamedTuple):
    """A table: columns (name, type) in order, and the natural key MERGE matches on."""

    name: str
    columns: list[tuple[str, str]]
    key: tuple[str, ...]

    def ddl(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for this table."""
        cols = ",\n  ".join(f"{name} {kind}" for name, kind in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  {cols}\n)"


TABLES = {
    SOCIAL_POSTS: TableSpec(SOCIAL_POSTS, [
        ("POST_ID", "VARCHAR"), ("PLATFORM", "VARCHAR"), ("AUTHOR_HASH", "VARCHAR"),
        ("CONTENT", "VARCHAR"), ("ENGAGEMENT_COUNT", "NUMBER"), ("LIKES_COUNT", "NUMBER"),
        ("COMMENTS_COUNT", "NUMBER"), ("SHARES_COUNT", "NUMBER"), ("HASHTAGS", "VARIANT"),
        ("PRODUCT_MENTIONS", "VARIANT"), ("LOCATION", "VARCHAR"), *_RECORD_COLUMNS],
        ("POST_ID",)),
    MARKET_ORDERS: TableSpec(MARKET_ORDERS, [
        ("ORDER_ID", "VARCHAR"), ("PRODUCT_ID", "VARCHAR"), ("PLATFORM", "VARCHAR"),
        ("MERCHANT_ID", "VARCHAR"), ("PRODUCT_NAME", "VARCHAR"), ("QUANTITY", "NUMBER"),
        ("UNIT_PRICE", "FLOAT"), ("TOTAL_PRICE", "FLOAT"), ("CURRENCY", "VARCHAR"),
        ("ORDER_STATUS", "VARCHAR"), ("PAYMENT_METHOD", "VARCHAR"),
        ("CUSTOMER_PHONE_HASH", "VARCHAR"), ("CUSTOMER_EMAIL_HASH", "VARCHAR"),
        ("CUSTOMER_NAME_HASH", "VARCHAR"), ("SHIPPING_CITY", "VARCHAR"),
        ("SHIPPING_REGION", "VARCHAR"), *_RECORD_COLUMNS],
        ("ORDER_ID", "PRODUCT_ID")),
    PRICE_HISTORY: TableSpec(PRICE_HISTORY, [
        ("ORDER_ID", "VARCHAR"), ("PRODUCT_ID", "VARCHAR"), ("MERCHANT_ID", "VARCHAR"),
        ("PLATFORM", "VARCHAR"), ("PRODUCT_NAME", "VARCHAR"), ("PRODUCT_CATEGORY", "VARCHAR"),
        ("UNIT_PRICE", "FLOAT"), ("CURRENCY", "VARCHAR"), ("OBSERVED_AT", "TIMESTAMP_TZ"),
        ("INGESTED_AT", "TIMESTAMP_TZ")],
        ("ORDER_ID", "PRODUCT_ID")),
    WEATHER_LOGS: TableSpec(WEATHER_LOGS, [
        ("CITY", "VARCHAR"), ("OBSERVED_AT", "TIMESTAMP_TZ"), ("TEMPERATURE", "FLOAT"),
        ("CONDITION", "VARCHAR"), ("HUMIDITY", "FLOAT"), ("WIND_SPEED", "FLOAT"),
        ("IS_EXTREME_WEATHER", "BOOLEAN"), ("INGESTED_AT", "TIMESTAMP_TZ")],
        ("CITY", "OBSERVED_AT")),
}

VIEWS = {
    "V_RECENT_SOCIAL_TRENDS": """
        SELECT PRODUCT_CATEGORY, PLATFORM, COUNT(*) AS POSTS,
               SUM(ENGAGEMENT_COUNT) AS ENGAGEMENT, MAX(EVENT_TIME) AS LAST_POST_AT
        FROM SOCIAL_POSTS
        WHERE EVENT_TIME >= DATEADD(day, -7, CURRENT_TIMESTAMP())
        GROUP BY PRODUCT_CATEGORY, PLATFORM""",
    "V_PRODUCT_DEMAND_BY_REGION": """
        SELECT PRODUCT_CATEGORY, SHIPPING_CITY, COUNT(*) AS ORDERS,
               SUM(QUANTITY) AS UNITS, SUM(QUANTITY * UNIT_PRICE) AS REVENUE
        FROM MARKET_ORDERS
        GROUP BY PRODUCT_CATEGORY, SHIPPING_CITY""",
    "V_WEATHER_ORDER_CORRELATION": """
        SELECT SHIPPING_CITY, WEATHER:condition::VARCHAR AS CONDITION,
               WEATHER:is_extreme_weather::BOOLEAN AS IS_EXTREME_WEATHER,
               COUNT(*) AS ORDERS, AVG(QUANTITY * UNIT_PRICE) AS AVG_ORDER_VALUE
        FROM MARKET_ORDERS
        WHERE WEATHER IS NOT NULL
        GROUP BY 1, 2, 3""",
    "V_DAILY_INGESTION_STATS": """
        SELECT 'SOCIAL_POSTS' AS TABLE_NAME, DATE_TRUNC('day', INGESTED_AT) AS DAY,
               COUNT(*) AS RECORDS
        FROM SOCIAL_POSTS GROUP BY 1, 2
        UNION ALL
        SELECT 'MARKET_ORDERS', DATE_TRUNC('day', INGESTED_AT), COUNT(*)
        FROM MARKET_ORDERS GROUP BY 1, 2""",
    "V_MISSING_EMBEDDINGS": """
        SELECT 'SOCIAL_POSTS' AS TABLE_NAME, POST_ID AS RECORD_ID, INGESTED_AT
        FROM SOCIAL_POSTS WHERE NOT COALESCE(HAS_EMBEDDING, FALSE)
        UNION ALL
        SELECT 'MARKET_ORDERS', ORDER_ID || ':' || PRODUCT_ID, INGESTED_AT
        FROM MARKET_ORDERS WHERE NOT COALESCE(HAS_EMBEDDING, FALSE)""",
    "V_ANONYMIZATION_COVERAGE": """
        SELECT 'SOCIAL_POSTS' AS TABLE_NAME, COUNT(*) AS RECORDS,
               COUNT_IF(ANONYMIZED) AS ANONYMIZED_RECORDS
        FROM SOCIAL_POSTS
        UNION ALL
        SELECT 'MARKET_ORDERS', COUNT(*), COUNT_IF(ANONYMIZED) FROM MARKET_ORDERS""",
}


def schema_statements() -> list[str]:
    """Every statement ``sensory snowflake init`` runs, in order; all idempotent."""
    return ([spec.ddl() for spec in TABLES.values()]
            + [f"CREATE OR REPLACE VIEW {name} AS {sql.strip()}" for name, sql in VIEWS.items()])


def _iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _common(record: dict[str, Any], event_time: str, ingested_at: str) -> dict[str, Any]:
    context = record.get("context") or {}
    category = context.get("category") or {}
    source = record.get("_source") or {}
    return {
        "PRODUCT_CATEGORY": category.get("name"), "CATEGORY_CONFIDENCE": category.get("confidence"),
        "CONTEXT": context, "WEATHER": context.get("weather"),
        "HAS_EMBEDDING": bool(record.get("embedding")),
        "EMBEDDING_MODEL": record.get("_embedding_model"),
        "ANONYMIZED": bool(record.get("_anonymized")),
        "ANONYMIZATION_VERSION": record.get("_anonymization_version"),
        "EVENT_TIME": event_time, "INGESTED_AT": ingested_at,
        "KAFKA_TOPIC": source.get("topic"), "KAFKA_PARTITION": source.get("partition"),
        "KAFKA_OFFSET": source.get("offset"),
    }


def _weather_row(record: dict[str, Any], ingested_at: str) -> Optional[dict[str, Any]]:
    weather = (record.get("context") or {}).get("weather")
    if not isinstance(weather, dict) or not weather.get("city") or not weather.get("timestamp"):
        return None
    return {"CITY": weather["city"], "OBSERVED_AT": weather["timestamp"],
            "TEMPERATURE": weather.get("temperature"), "CONDITION": weather.get("condition"),
            "HUMIDITY": weather.get("humidity"), "WIND_SPEED": weather.get("wind_speed"),
            "IS_EXTREME_WEATHER": weather.get("is_extreme_weather"), "INGESTED_AT": ingested_at}


def social_rows(record: dict[str, Any], ingested_at: str) -> Iterable[tuple[str, dict]]:
    """Rows a processed social record becomes: one post, and its weather observation."""
    yield SOCIAL_POSTS, {
        "POST_ID": record["post_id"], "PLATFORM": record.get("platform"),
        "AUTHOR_HASH": record.get("author_hash"), "CONTENT": record.get("content"),
        "ENGAGEMENT_COUNT": record.get("engagement_count"),
        "LIKES_COUNT": record.get("likes_count"), "COMMENTS_COUNT": record.get("comments_count"),
        "SHARES_COUNT": record.get("shares_count"), "HASHTAGS": record.get("hashtags"),
        "PRODUCT_MENTIONS": record.get("product_mentions"), "LOCATION": record.get("location"),
        **_common(record, record.get("posted_at"), ingested_at)}
    weather = _weather_row(record, ingested_at)
    if weather:
        yield WEATHER_LOGS, weather


def market_rows(record: dict[str, Any], ingested_at: str) -> Iterable[tuple[str, dict]]:
    """Rows a processed market record becomes: the order line, a price point, its weather."""
    common = _common(record, record.get("created_at"), ingested_at)
    yield MARKET_ORDERS, {
        "ORDER_ID": record["order_id"], "PRODUCT_ID": record["product_id"],
        "PLATFORM": record.get("platform"), "MERCHANT_ID": record.get("merchant_id"),
        "PRODUCT_NAME": record.get("product_name"), "QUANTITY": record.get("quantity"),
        "UNIT_PRICE": record.get("unit_price"), "TOTAL_PRICE": record.get("total_price"),
        "CURRENCY": record.get("currency"), "ORDER_STATUS": record.get("order_status"),
        "PAYMENT_METHOD": record.get("payment_method"),
        "CUSTOMER_PHONE_HASH": record.get("customer_phone_hash"),
        "CUSTOMER_EMAIL_HASH": record.get("customer_email_hash"),
        "CUSTOMER_NAME_HASH": record.get("customer_name_hash"),
        "SHIPPING_CITY": record.get("shipping_city"),
        "SHIPPING_REGION": record.get("shipping_region"), **common}
    yield PRICE_HISTORY, {
        "ORDER_ID": record["order_id"], "PRODUCT_ID": record["product_id"],
        "MERCHANT_ID": record.get("merchant_id"), "PLATFORM": record.get("platform"),
        "PRODUCT_NAME": record.get("product_name"),
        "PRODUCT_CATEGORY": common["PRODUCT_CATEGORY"], "UNIT_PRICE": record.get("unit_price"),
        "CURRENCY": record.get("currency"), "OBSERVED_AT": record.get("created_at"),
        "INGESTED_AT": ingested_at}
    weather = _weather_row(record, ingested_at)
    if weather:
        yield WEATHER_LOGS, weather


ROW_MAPPERS: dict[str, Callable[[dict, str], Iterable[tuple[str, dict]]]] = {
    "social": social_rows, "market": market_rows}


def record_key(record: dict[str, Any]) -> str:
    """The natural key of a processed record, as one string (for logs and dead letters)."""
    if record.get("_record_type") == "market":
        return f"{record.get('order_id')}:{record.get('product_id')}"
    return str(record.get("post_id"))


def variant_text(value: Any) -> str:
    """A VARIANT value as JSON text for the staging file (PARSE_JSON reads it back)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # orjson refuses what the records never hold but json accepts (ints over 64 bits).
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
