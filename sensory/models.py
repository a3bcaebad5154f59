"""Record models implementing the record contract (docs/records.md) with pydantic v2.

Validation is lenient where the contract allows it (aliases, ``"12"`` for an integer, naive times
taken as UTC) and strict everywhere else. Unknown input fields are ignored: they are not part of
the contract and may carry PII that no later stage knows to scrub.
"""
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)

TOTAL_PRICE_TOLERANCE = 0.01


def _no_bool(value: Any) -> Any:
    # pydantic's lax mode turns True into 1; a boolean count is a producer bug, not a number.
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    return value


_NUMBER_RE = re.compile(r"\s*[+-]?\d+(?:\.\d*)?\s*")


def _iso_datetime(value: Any) -> Any:
    # Lax mode would read 1700000000 (or "1700000000") as epoch seconds; the contract asks for
    # ISO-8601 text.
    if (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
            isinstance(value, str) and _NUMBER_RE.fullmatch(value)):
        raise ValueError("expected an ISO-8601 date-time string, got a number")
    return value


NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Count = Annotated[int, BeforeValidator(_no_bool), Field(ge=0)]
PositiveInt = Annotated[int, BeforeValidator(_no_bool), Field(gt=0)]
Timestamp = Annotated[datetime, BeforeValidator(_iso_datetime)]


def _as_utc(value: datetime) -> datetime:
    """Naive date-times are UTC by contract; aware ones are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class SocialPost(_Record):
    """A social-media post from TikTok or Facebook."""

    platform: Literal["tiktok", "facebook"]
    post_id: NonEmptyStr
    author: NonEmptyStr = Field(validation_alias=AliasChoices("author", "author_username"))
    content: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5)]
    engagement_count: Count
    likes_count: Optional[Count] = None
    comments_count: Optional[Count] = None
    shares_count: Optional[Count] = None
    posted_at: Timestamp = Field(validation_alias=AliasChoices("posted_at", "timestamp"))
    hashtags: list[str] = Field(default_factory=list)
    product_mentions: Optional[list[str]] = None
    location: Optional[str] = None

    _utc = field_validator("posted_at")(_as_utc)


class MarketOrder(_Record):
    """A marketplace order line from Shopify or Daraz."""

    platform: Literal["shopify", "daraz"]
    order_id: NonEmptyStr
    merchant_id: NonEmptyStr
    product_id: NonEmptyStr
    product_name: NonEmptyStr
    quantity: PositiveInt
    unit_price: float = Field(gt=0, allow_inf_nan=False,
                              validation_alias=AliasChoices("unit_price", "price"))
    total_price: Optional[float] = Field(default=None, allow_inf_nan=False)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "BDT"
    order_status: NonEmptyStr
    payment_method: Optional[str] = None
    customer_phone: Optional[str] = None
    customer_email: Optional[str] = None
    customer_name: Optional[str] = None
    shipping_city: Optional[str] = None
    shipping_region: Optional[str] = None
    created_at: Timestamp = Field(validation_alias=AliasChoices("created_at", "timestamp"))

    _utc = field_validator("created_at")(_as_utc)

    @model_validator(mode="after")
    def _total_matches(self) -> "MarketOrder":
        if self.total_price is not None:
            expected = self.quantity * self.unit_price
            if abs(self.total_price - expected) > TOTAL_PRICE_TOLERANCE:
                raise ValueError(
                    f"total_price: {self.total_price} is not quantity x unit_price "
                    f"({self.quantity} x {self.unit_price} = {expected:.2f})")
        return self


_STORM_WORDS = ("storm", "tornado", "squall", "cyclone", "hurricane")


class WeatherData(_Record):
    """Current weather for one city; ``is_extreme_weather`` is derived, never taken from input."""

    city: NonEmptyStr
    temperature: float = Field(allow_inf_nan=False)
    condition: NonEmptyStr
    humidity: float = Field(ge=0, le=100)
    wind_speed: float = Field(ge=0, allow_inf_nan=False)
    timestamp: Timestamp

    _utc = field_validator("timestamp")(_as_utc)

    @computed_field
    @property
    def is_extreme_weather(self) -> bool:
        """Temperature > 38 or < 10 °C, wind > 15 m/s, or a storm / heavy-rain condition."""
        condition = self.condition.lower()
        stormy = any(word in condition for word in _STORM_WORDS)
        heavy_rain = "heavy" in condition and "rain" in condition
        return (self.temperature > 38 or self.temperature < 10 or self.wind_speed > 15
                or stormy or heavy_rain)


SOCIAL = "social"
MARKET = "market"
# Record kind -> model; the kind is stored on every record as ``_record_type``.
RECORD_MODELS: dict[str, type[_Record]] = {SOCIAL: SocialPost, MARKET: MarketOrder}
RECORD_TYPE_KEY = "_record_type"
