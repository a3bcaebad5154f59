"""Facebook: a page's posts from the Graph API (``/<page-id>/posts``), mapped to SocialPost.

Posts come newest first with cursor paging (``paging.next``); the cursor's watermark is the
newest ``created_time`` of a completed run. Graph reports rate limits as error codes 4, 17, 32
and 613 (no ``Retry-After``): they are retried with exponential backoff. Code 190 (bad or
expired token) stops at once.
"""
import re
from datetime import datetime
from typing import Any, Iterator, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from sensory.scrapers.base import Entry, Page, parse_time, to_utc
from sensory.scrapers.errors import (RetryableError, SourceAuthError, SourceRequestError,
                                     ThrottledError)
from sensory.scrapers.http import PoliteClient, default_classify
from sensory.topics import SOCIAL_SOURCE_TOPICS

NAME = "facebook"
TOPIC = "source.social.facebook"
assert TOPIC in SOCIAL_SOURCE_TOPICS
DEFAULT_GRAPH_URL = "https://graph.facebook.com/v19.0"
FIELDS = ("id,message,created_time,from,shares,place,reactions.summary(total_count).limit(0),"
          "comments.summary(total_count).limit(0)")
THROTTLE_CODES = frozenset({4, 17, 32, 613})
AUTH_CODES = frozenset({190, 102})
TRANSIENT_CODES = frozenset({1, 2})
_HASHTAG_RE = re.compile(r"#\w+", re.UNICODE)


def classify(response: requests.Response) -> Optional[Exception]:
    """Graph error codes first (they come with 400/403), then the HTTP status."""
    if response.status_code >= 400:
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        code = error.get("code")
        message = f"Graph error {code}: {error.get('message', '')}"
        if code in THROTTLE_CODES:
            return ThrottledError(message)
        if code in AUTH_CODES:
            return SourceAuthError(message + " (get a new page access token)")
        if code in TRANSIENT_CODES:
            return RetryableError(message)
        if code is not None:
            return SourceRequestError(message)
    return default_classify(response)


def post_record(post: dict) -> dict:
    """A SocialPost record of one Graph post (lenient: gaps go on for the validator)."""
    message = post.get("message")
    likes = _count(post.get("reactions"))
    comments = _count(post.get("comments"))
    shares = (post.get("shares") or {}).get("count", 0)
    created = parse_time(post.get("created_time"))
    place = post.get("place") or {}
    record = {
        "platform": NAME, "post_id": post.get("id"),
        "author": (post.get("from") or {}).get("name"), "content": message,
        "likes_count": likes, "comments_count": comments, "shares_count": shares,
        "engagement_count": sum(v for v in (likes, comments, shares) if isinstance(v, int)),
        "posted_at": created.isoformat() if created else post.get("created_time"),
        "hashtags": _HASHTAG_RE.findall(message or ""),
    }
    city = (place.get("location") or {}).get("city")
    if city:
        record["location"] = city
    return record


def _without_token(url: Optional[str]) -> Optional[str]:
    if not url:
        return None
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != "access_token"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _count(edge: Any) -> Any:
    return ((edge or {}).get("summary") or {}).get("total_count", 0)


class FacebookSource:
    """Pages of a Facebook page's posts created in a window.

    Args:
        client: The source's polite HTTP client (open), built with :func:`classify`.
        graph_url: Graph root with version, e.g. ``https://graph.facebook.com/v19.0``.
        page_id: The page's id.
        access_token: A page access token.
        page_limit: Posts per Graph page (max 100).
    """

    name = NAME
    topic = TOPIC
    key_field = "post_id"

    def __init__(self, client: PoliteClient, *, graph_url: str, page_id: str, access_token: str,
                 page_limit: int = 50):
        if not page_id or not access_token:
            raise ValueError("Facebook needs --page_id and a page access token "
                             "($FACEBOOK_ACCESS_TOKEN)")
        self._client = client
        self._root = graph_url.rstrip("/")
        self._page_id = page_id
        self._token = access_token
        self._limit = page_limit
        self.scope_id = page_id  # one cursor per page

    def first_url(self, since: Optional[datetime], until: Optional[datetime]) -> str:
        """The first page's URL (newest posts) for a window."""
        params = {"fields": FIELDS, "limit": self._limit}
        if since is not None:
            params["since"] = int(to_utc(since).timestamp())
        if until is not None:
            params["until"] = int(to_utc(until).timestamp())
        return requests.Request("GET", f"{self._root}/{self._page_id}/posts",
                                params=params).prepare().url

    def pages(self, since: Optional[datetime], until: Optional[datetime],
              token: Optional[str]) -> Iterator[Page]:
        """Pages from ``token`` (a ``paging.next`` URL) or the window's newest page."""
        url = token or self.first_url(since, until)
        while url:
            # The token goes with each request, never into a URL kept in the cursor.
            body = self._client.get(url, params={"access_token": self._token}).json()
            posts = body.get("data") or []
            url = _without_token((body.get("paging") or {}).get("next"))
            entries = [Entry(str(p.get("id")), parse_time(p.get("created_time")), [post_record(p)])
                       for p in posts if isinstance(p, dict)]
            yield Page(entries, url, sum(1 for p in posts if not isinstance(p, dict)))
