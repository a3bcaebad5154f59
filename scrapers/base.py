"""What every source yields to the runner: pages of entries, each with its records."""
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator, Optional, Protocol


@dataclass
class Entry:
    """One item of a source (an order, a post) and the records mapped from it.

    Attributes:
        item_id: The source's natural id (order id, post id); dedup and cursor key.
        updated: Time the cursor advances by (order ``updated_at``, post ``created_time``);
            None when the item did not carry a readable one.
        records: Records in the contract's shape (one per order line for orders). A record
            that could not be fully mapped is still here: the pipeline's validator
            dead-letters it with the reason.
    """

    item_id: str
    updated: Optional[datetime]
    records: list[dict]


@dataclass
class Page:
    """One fetched page.

    Attributes:
        entries: The page's items in source order.
        next_token: Token to fetch the page after this one; None when this was the last.
        unmappable: Items that were not records at all (not a JSON object); counted as
            failed, never produced.
        skipped: Items the source saw but left out as already produced (older than the
            cursor); counted as duplicates.
    """

    entries: list[Entry]
    next_token: Optional[str]
    unmappable: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Window:
    """The time window of a run: items with ``since <= updated < until``."""

    since: Optional[datetime] = None
    until: Optional[datetime] = None

    def scope(self) -> str:
        """Cursor scope: ``incremental`` or a backfill window (its own resumable cursor)."""
        if self.since is None and self.until is None:
            return "incremental"
        return f"backfill:{_iso(self.since) or '-'}:{_iso(self.until) or '-'}"


class Source(Protocol):
    """A scraper: a name, its topic, the key field of its records, and its pages."""

    name: str
    topic: str
    key_field: str

    def pages(self, since: Optional[datetime], until: Optional[datetime],
              token: Optional[str]) -> Iterator[Page]:
        """Pages of items updated in ``[since, until)``, starting at ``token`` (None: first)."""


def _iso(value: Optional[datetime]) -> Optional[str]:
    return None if value is None else to_utc(value).isoformat()


def to_utc(value: datetime) -> datetime:
    """Naive times are UTC; aware ones are converted."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(
        timezone.utc)


def parse_time(text: Optional[str]) -> Optional[datetime]:
    """ISO-8601 (also ``+0000`` offsets) to an aware UTC datetime; None if unreadable."""
    if not text or not isinstance(text, str):
        return None
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError:
        return None
