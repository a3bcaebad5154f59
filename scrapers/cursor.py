"""Per-source scrape cursors in Redis.

A cursor is a small JSON document (see :class:`CursorState`) under
``sensory:scrape:cursor:<source>:<scope>``. The runner writes it only after Kafka acknowledged
the batch it describes, so a crash between the two re-sends that batch and never skips it.
"""
import json
from dataclasses import asdict, dataclass, field
from typing import Optional

KEY_PREFIX = "sensory:scrape:cursor"


@dataclass
class CursorState:
    """Where a source's scrape stands.

    Attributes:
        watermark: ISO time of the newest item of the last completed run; the next run starts
            there (inclusive).
        boundary_ids: Items at exactly ``watermark`` already produced (skipped next run).
        resume: Source-specific token of the next page of an unfinished run, or None.
        resume_sent: Items of the ``resume`` page already produced (a ``--max-items`` stop).
        run_high: Newest item time seen by the unfinished run.
        run_high_ids: Items at ``run_high``.
    """

    watermark: Optional[str] = None
    boundary_ids: list[str] = field(default_factory=list)
    resume: Optional[str] = None
    resume_sent: list[str] = field(default_factory=list)
    run_high: Optional[str] = None
    run_high_ids: list[str] = field(default_factory=list)


def cursor_key(source: str, scope: str) -> str:
    """The Redis key of a source's cursor in a scope (``incremental`` or a backfill window)."""
    return f"{KEY_PREFIX}:{source}:{scope}"


class CursorStore:
    """Reads and writes cursors; open with ``with`` (the Redis client closes on exit).

    Args:
        redis_url: Redis URL, e.g. ``sensory.endpoints.redis_url()``.
    """

    def __init__(self, redis_url: str):
        if not redis_url:
            raise ValueError("redis_url is required for the scrape cursor")
        self._url = redis_url
        self._client = None

    def __enter__(self) -> "CursorStore":
        import redis  # pylint: disable=import-outside-toplevel
        self._client = redis.Redis.from_url(self._url, socket_timeout=10,
                                            socket_connect_timeout=10)
        self._client.ping()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def load(self, key: str) -> CursorState:
        """The stored state, or a fresh one."""
        raw = self._client.get(key)
        if raw is None:
            return CursorState()
        return CursorState(**json.loads(raw))

    def save(self, key: str, state: CursorState) -> None:
        """Stores the state (no expiry: a cursor is the record of what was produced)."""
        self._client.set(key, json.dumps(asdict(state), sort_keys=True))

    def reset(self, key: str) -> None:
        """Forgets a cursor (the next run starts from ``--since`` or the beginning)."""
        self._client.delete(key)
