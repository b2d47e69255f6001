"""Fetch a podcast RSS feed and turn its items into episodes.

An episode is keyed by its ``<link>`` when that link is its own; many feeds repeat the show's home
page in every item, or omit it, and then the ``<guid>`` (or the enclosure URL) is the key.

Real feeds are messy: a blank line before ``<?xml``, a single ``<item>`` (a dict, not a list),
missing optional fields, HTML in descriptions, video enclosures, upper-case namespaces, dates
without weekdays. Entity declarations are refused outright, so a "billion laughs" payload fails
fast instead of eating memory.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse
from xml.parsers.expat import ExpatError

import requests
import xmltodict
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

DEFAULT_FEED_URL = "https://www.marketplace.org/feed/podcast/marketplace/"
AUDIO_SUFFIXES = (".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wav")
MAX_FEED_BYTES = 50 * 1024 * 1024
FEED_TIMEOUT = (10, 30)  # seconds: connect, read


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

    def as_row(self) -> dict[str, Any]:
        """Return the episode as a dict of column values."""
        return asdict(self)


def make_session(retries: int = 4, backoff: float = 1.0) -> requests.Session:
    """Return a session retrying connection errors and 429/5xx, honouring Retry-After."""
    retry = Retry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": "podcast-pipeline/1.0", "Accept-Encoding": "identity"})
    return session


def fetch_feed(url: str, session: requests.Session | None = None) -> bytes:
    """Download the feed at ``url``; FeedError on any network or HTTP failure."""
    session = session or make_session()
    chunks, size = [], 0
    try:
        with session.get(url, timeout=FEED_TIMEOUT, stream=True) as response:
            response.raise_for_status()
            for chunk in response.iter_content(1 << 16):
                size += len(chunk)
                if size > MAX_FEED_BYTES:  # checked while reading: never buffered whole
                    raise FeedError(f"feed {url} is larger than {MAX_FEED_BYTES} bytes")
                chunks.append(chunk)
    except requests.RequestException as exc:
        raise FeedError(f"could not fetch feed {url}: {exc}") from exc
    return b"".join(chunks)


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
    audio = [e for e in enclosures if isinstance(e, dict) and e.get("@url") and _is_audio(e)]
    title = _text(item.get("title"))
    if not audio:
        kinds = [e.get("@type") for e in enclosures if isinstance(e, dict)]
        logger.warning("Skipping %r: no audio enclosure (found %s)", title, kinds or "none")
        return None
    url = audio[0]["@url"].strip()
    link = _text(item.get("link"))
    if link is None or link in shared_links:
        link = _text(item.get("guid")) or url
    description = item.get("description") or item.get("itunes:summary")
    return Episode(
        link=link,
        title=title,
        filename=episode_filename(link, title, url),
        published=_published(_text(item.get("pubDate"))),
        description=html_to_text(_text(description)),
        url=url,
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


def get_episodes(url: str, session: requests.Session | None = None) -> list[Episode]:
    """Fetch and parse the feed at ``url``."""
    return parse_feed(fetch_feed(url, session))
