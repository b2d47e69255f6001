"""Fetch a podcast RSS feed and turn its items into episodes.

An episode is keyed by its ``<link>`` when that link is its own; many feeds repeat the show's home
page in every item, or omit it, and then the ``<guid>`` (or the enclosure URL) is the key.

Real feeds are messy: a blank line before ``<?xml``, a single ``<item>`` (a dict, not a list),
missing optional fields, HTML in descriptions, video enclosures, upper-case namespaces, dates
without weekdays. Entity declarations are refused outright, so a "billion laughs" payload fails
fast instead of eating memory. An audio enclosure whose URL is blank or not http(s) is kept as an
episode with a ``skip_reason``: stored once, reported, never retried. Fetching (a conditional
GET within a deadline) lives in :mod:`podcasts.http_client`.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse
from xml.parsers.expat import ExpatError

import requests
import xmltodict

from podcasts.errors import FeedError
from podcasts.http_client import FeedValidators, fetch_feed

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wav", ".flac")
# The enclosure's declared type names the file's format better than its URL (often no suffix).
TYPE_SUFFIXES = {"audio/mpeg": ".mp3", "audio/mpeg3": ".mp3", "audio/mp4": ".m4a",
                 "audio/x-m4a": ".m4a", "audio/m4a": ".m4a", "audio/aac": ".aac",
                 "audio/aacp": ".aac", "audio/ogg": ".ogg", "audio/opus": ".opus",
                 "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav",
                 "audio/flac": ".flac", "audio/x-flac": ".flac"}


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
    # The item's other possible keys (its <link>, <guid>, enclosure URL): under one of them it
    # may be stored already, from a run when its <link> was still its own (or shared).
    aliases: tuple[str, ...] = ()

    def as_row(self) -> dict[str, Any]:
        """Return the episode as a dict of column values."""
        return asdict(self)


@dataclass(frozen=True)
class Channel:
    """What one RSS document holds: the show's title and its episodes."""

    title: str | None
    episodes: list[Episode]


@dataclass(frozen=True)
class FeedUpdate:
    """The feed's episodes and title, or None for both when it has not changed since the last
    fetch."""

    episodes: list[Episode] | None
    validators: FeedValidators
    title: str | None = None


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


def iso_published(value: str | None) -> str | None:
    """A publication date as stored: ISO 8601 in UTC (so that text order is time order), from
    RSS's RFC 822 ``pubDate`` or an ISO 8601 one; None when it is blank or unreadable (logged).
    """
    if not value:
        return None
    try:
        stamp = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            stamp = datetime.fromisoformat(value.strip())
        except ValueError:
            logger.warning("Unreadable pubDate %r", value)
            return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone(timezone.utc).isoformat()


def _url_suffix(url: str) -> str:
    """The lower-case suffix of the URL's path ('' when there is none or the URL is malformed)."""
    try:
        return PurePosixPath(urlparse(url).path).suffix.lower()
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return ""


def enclosure_problem(url: str) -> str | None:
    """Why an enclosure URL cannot be downloaded (blank, malformed, not http(s), no host)."""
    if not url.strip():
        return "enclosure has a blank URL"
    try:
        parts = urlparse(url.strip())
        parts.port  # pylint: disable=pointless-statement  # raises ValueError when malformed
    except ValueError:
        return f"enclosure URL is malformed: {url.strip()[:200]!r}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"enclosure URL is not http(s): {url.strip()[:200]!r}"
    if not parts.hostname:
        return f"enclosure URL has no host: {url.strip()[:200]!r}"
    return None


def _is_audio(enclosure: dict[str, Any]) -> bool:
    kind = (enclosure.get("@type") or "").lower()
    if kind:
        return kind.startswith("audio/") or kind.endswith("/mp3")
    return _url_suffix(enclosure.get("@url") or "") in AUDIO_SUFFIXES


def audio_suffix(url: str, kind: str | None = None) -> str:
    """The file suffix for an enclosure: by its declared type, else its URL's suffix, else .mp3.

    Only the name: the decoder reads the file's own first bytes (see :mod:`podcasts.audio`).
    """
    kind = (kind or "").split(";")[0].strip().lower()
    if kind in TYPE_SUFFIXES:
        return TYPE_SUFFIXES[kind]
    if kind.endswith("/mp3"):  # audio/mp3, x-audio/mp3
        return ".mp3"
    suffix = _url_suffix(url)
    return suffix if suffix in AUDIO_SUFFIXES else ".mp3"


def episode_filename(link: str, title: str | None, url: str, kind: str | None = None) -> str:
    """A safe, unique file name: a slug of the title, a hash of the link, an audio suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", (title or "episode").lower()).strip("-")[:60] or "episode"
    return f"{slug}-{hashlib.sha1(link.encode()).hexdigest()[:10]}{audio_suffix(url, kind)}"


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
    enclosure = (usable or audio)[0]
    url = (enclosure.get("@url") or "").strip()
    own_link, guid = _text(item.get("link")), _text(item.get("guid"))
    link = own_link
    if link is None or link in shared_links:
        link = guid or url
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
        filename=episode_filename(link, title, url, enclosure.get("@type")),
        published=iso_published(_text(item.get("pubDate"))),
        description=html_to_text(_text(description)),
        url=url,
        skip_reason=problem,
        aliases=tuple(dict.fromkeys(key for key in (own_link, guid, url) if key and key != link)),
    )


def parse_feed(payload: bytes) -> list[Episode]:
    """Parse RSS bytes into episodes with audio, in feed order, one per link."""
    return parse_channel(payload).episodes


def parse_channel(payload: bytes) -> Channel:
    """Parse RSS bytes into the channel's title and its episodes with audio (feed order, one
    per link)."""
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
    return Channel(_text(channel.get("title")), list(episodes.values()))


def get_episodes(url: str, session: requests.Session | None = None,
                 validators: FeedValidators | None = None) -> FeedUpdate:
    """Fetch the feed at ``url`` and parse it, unless it is unchanged since ``validators``."""
    fetched = fetch_feed(url, session, validators)
    if fetched.payload is None:
        return FeedUpdate(None, fetched.validators)
    channel = parse_channel(fetched.payload)
    return FeedUpdate(channel.episodes, fetched.validators, channel.title)
