"""Fetch a podcast RSS feed and turn its items into episodes.

An episode is keyed by its ``<link>`` when that link is its own; many feeds repeat the show's home
page in every item, or omit it, and then the ``<guid>`` (or the enclosure URL) is the key.

Real feeds are messy: a blank line before ``<?xml``, a single ``<item>`` (a dict, not a list),
missing optional fields, HTML in descriptions, video enclosures, upper-case namespaces, dates
without weekdays. Entity declarations are refused outright, so a "billion laughs" payload fails
fast instead of eating memory. An audio enclosure whose URL is blank or not http(s) is kept as an
episode with a ``skip_reason``: stored once, reported, never retried.

The feed is fetched with a conditional GET (the last fetch's validators): a 304 answer means
nothing new, and nothing is parsed. However the host misbehaves (never answers, trickles bytes,
says "retry after an hour"), the fetch gives up within ``FEED_DEADLINE`` seconds.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse
from xml.parsers.expat import ExpatError

import requests
import urllib3
import xmltodict
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

DEFAULT_FEED_URL = "https://www.marketplace.org/feed/podcast/marketplace/"
AUDIO_SUFFIXES = (".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wav")
MAX_FEED_BYTES = 50 * 1024 * 1024
FEED_TIMEOUT = (5, 10)  # seconds: connect, and between bytes
FEED_DEADLINE = 30.0  # seconds for the whole fetch, retries included
# Worst cases within the deadline: a host that never answers costs 2 x 10 s (one read retry);
# one that refuses or drops connections 4 x 5 s plus 6 s of backoff; Retry-After is capped at 5 s.
FEED_RETRIES = {"retries": 3, "read_retries": 1, "retry_after_max": 5}


class FeedError(Exception):
    """The feed could not be fetched or parsed."""


@dataclass(frozen=True)
class Episode:
    """One podcast episode as stored in the database."""

    link: str
    title: str | None
    filename: str
    published: str | None
    description: str | None
    url: str
    skip_reason: str | None = None

    def as_row(self) -> dict[str, Any]:
        """Return the episode as a dict of column values."""
        return asdict(self)


@dataclass(frozen=True)
class FeedValidators:
    """What the server said identifies this version of the feed (either may be missing)."""

    etag: str | None = None
    last_modified: str | None = None

    def request_headers(self) -> dict[str, str]:
        """Headers asking the server to answer 304 if the feed has not changed."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class FeedFetch:
    """A fetched feed: its bytes, or None when the server said 304 Not Modified."""

    payload: bytes | None
    validators: FeedValidators


@dataclass(frozen=True)
class FeedUpdate:
    """The feed's episodes, or None when it has not changed since the last fetch."""

    episodes: list[Episode] | None
    validators: FeedValidators


def make_session(retries: int = 4, backoff: float = 1.0, read_retries: int | None = None,
                 retry_after_max: int = 120) -> requests.Session:
    """Return a session retrying connection errors and 429/5xx, honouring Retry-After.

    Args:
        retries: attempts after the first, whatever went wrong.
        backoff: seconds before the third attempt, doubling after (the second is immediate).
        read_retries: at most this many of them after a read timeout (default: ``retries``).
        retry_after_max: a longer Retry-After is cut to this many seconds.
    """
    retry = Retry(
        total=retries,
        read=read_retries,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        retry_after_max=retry_after_max,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": "podcast-pipeline/1.0", "Accept-Encoding": "identity"})
    return session


def _read_body(response: requests.Response, url: str, deadline: float) -> bytes:
    """Read the body as it arrives, within the size limit and the deadline."""
    chunks, size = [], 0
    while chunk := response.raw.read1(1 << 16, decode_content=True):
        size += len(chunk)
        if size > MAX_FEED_BYTES:  # checked while reading: never buffered whole
            raise FeedError(f"feed {url} is larger than {MAX_FEED_BYTES} bytes")
        if time.monotonic() > deadline:
            raise FeedError(f"feed {url} did not arrive within {FEED_DEADLINE:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _timed_out(exc: Exception) -> bool:
    """Whether ``exc`` (or the last error urllib3's retries met) is a timeout."""
    cause = getattr(exc.args[0], "reason", None) if exc.args else None
    timeouts = (requests.Timeout, urllib3.exceptions.TimeoutError)
    return isinstance(exc, timeouts) or isinstance(cause, timeouts)


def fetch_feed(url: str, session: requests.Session | None = None,
               validators: FeedValidators | None = None) -> FeedFetch:
    """Download the feed at ``url`` unless it is unchanged since ``validators`` were given.

    Raises:
        FeedError: on any network or HTTP failure, or when ``FEED_DEADLINE`` has passed.
    """
    session = session or make_session(**FEED_RETRIES)
    validators = validators or FeedValidators()
    deadline = time.monotonic() + FEED_DEADLINE
    try:
        with session.get(url, timeout=FEED_TIMEOUT, stream=True,
                         headers=validators.request_headers()) as response:
            response.raise_for_status()
            fresh = FeedValidators(response.headers.get("ETag"),
                                   response.headers.get("Last-Modified"))
            if response.status_code == 304:
                logger.info("Feed not modified since the last fetch (304)")
                return FeedFetch(None, FeedValidators(
                    fresh.etag or validators.etag, fresh.last_modified or validators.last_modified))
            return FeedFetch(_read_body(response, url, deadline), fresh)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        reason = "no answer in time" if _timed_out(exc) else exc
        raise FeedError(f"could not fetch feed {url}: {reason}") from exc


def _text(value: Any) -> str | None:
    """Return the text of an xmltodict value (plain string, or dict with '#text')."""
    if isinstance(value, dict):
        value = value.get("#text")
    if isinstance(value, list):
        value = _text(value[0]) if value else None
    if value is None:
        return None
    return str(value).strip() or None


def html_to_text(value: str | None) -> str | None:
    """Strip tags and entities from an HTML description."""
    if value is None:
        return None
    text = html.unescape(re.sub(r"<[^>]+>", " ", value))
    return re.sub(r"\s+", " ", text).strip() or None


def _published(value: str | None) -> str | None:
    if not value:
        return None
    try:
        stamp = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        logger.warning("Unreadable pubDate %r", value)
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone(timezone.utc).isoformat()


def enclosure_problem(url: str) -> str | None:
    """Why an enclosure URL cannot be downloaded (blank, not http(s), no host), or None."""
    if not url.strip():
        return "enclosure has a blank URL"
    parts = urlparse(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        return f"enclosure URL is not http(s): {url.strip()[:200]!r}"
    if not parts.hostname:
        return f"enclosure URL has no host: {url.strip()[:200]!r}"
    return None


def _is_audio(enclosure: dict[str, Any]) -> bool:
    kind = (enclosure.get("@type") or "").lower()
    if kind:
        return kind.startswith("audio/") or kind.endswith("/mp3")
    return PurePosixPath(urlparse(enclosure.get("@url", "")).path).suffix.lower() in AUDIO_SUFFIXES


def episode_filename(link: str, title: str | None, url: str) -> str:
    """A safe, unique file name: a slug of the title, a hash of the link, an audio suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", (title or "episode").lower()).strip("-")[:60] or "episode"
    suffix = PurePosixPath(urlparse(url).path).suffix.lower()
    suffix = suffix if suffix in AUDIO_SUFFIXES else ".mp3"
    return f"{slug}-{hashlib.sha1(link.encode()).hexdigest()[:10]}{suffix}"


def _episode(item: dict[str, Any], shared_links: set[str]) -> Episode | None:
    enclosures = item.get("enclosure")
    enclosures = enclosures if isinstance(enclosures, list) else [enclosures]
    audio = [e for e in enclosures if isinstance(e, dict) and _is_audio(e)]
    title = _text(item.get("title"))
    if not audio:
        kinds = [e.get("@type") for e in enclosures if isinstance(e, dict)]
        logger.warning("Skipping %r: no audio enclosure (found %s)", title, kinds or "none")
        return None
    usable = [e for e in audio if enclosure_problem(e.get("@url") or "") is None]
    url = ((usable or audio)[0].get("@url") or "").strip()
    link = _text(item.get("link"))
    if link is None or link in shared_links:
        link = _text(item.get("guid")) or url
    if not link:
        logger.warning("Skipping %r: no link, guid or enclosure URL to identify it", title)
        return None
    problem = enclosure_problem(url)
    if problem:
        logger.warning("Episode %r will not be downloaded: %s", title, problem)
    description = item.get("description") or item.get("itunes:summary")
    return Episode(
        link=link,
        title=title,
        filename=episode_filename(link, title, url),
        published=_published(_text(item.get("pubDate"))),
        description=html_to_text(_text(description)),
        url=url,
        skip_reason=problem,
    )


def parse_feed(payload: bytes) -> list[Episode]:
    """Parse RSS bytes into episodes with audio, in feed order, one per link."""
    try:
        document = xmltodict.parse(payload.lstrip(), disable_entities=True)
    except ExpatError as exc:
        raise FeedError(f"feed is not well-formed XML: {exc}") from exc
    except ValueError as exc:  # xmltodict refuses entity declarations with ValueError
        raise FeedError(f"feed refused: {exc}") from exc
    channel = (document.get("rss") or {}).get("channel") if isinstance(document, dict) else None
    if not isinstance(channel, dict):
        raise FeedError("feed has no <rss><channel> element")
    items = channel.get("item") or []
    items = [items] if isinstance(items, dict) else items
    items = [item for item in items if isinstance(item, dict)]
    link_counts = Counter(_text(item.get("link")) for item in items)
    shared_links = {link for link, count in link_counts.items() if link and count > 1}
    episodes: dict[str, Episode] = {}
    for item in items:
        episode = _episode(item, shared_links)
        if episode is not None:
            episodes.setdefault(episode.link, episode)
    logger.info("Parsed %d items, %d audio episodes", len(items), len(episodes))
    return list(episodes.values())


def get_episodes(url: str, session: requests.Session | None = None,
                 validators: FeedValidators | None = None) -> FeedUpdate:
    """Fetch the feed at ``url`` and parse it, unless it is unchanged since ``validators``."""
    fetched = fetch_feed(url, session, validators)
    episodes = None if fetched.payload is None else parse_feed(fetched.payload)
    return FeedUpdate(episodes, fetched.validators)
