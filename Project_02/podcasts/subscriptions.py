"""Subscriptions: the feeds a plain ``run`` updates, kept in the ``feeds`` table.

A feed is subscribed when its row has a ``subscribed_at`` time. A row without one is a feed the
database has episodes of but no longer updates (unsubscribed, or fetched once with
``run --feed-url``). Unsubscribing keeps the feed's episodes, transcripts and audio files.
Subscribing fetches nothing: the channel's title and the first fetch's result arrive with the
next ``run``. Each function is one transaction (retried while another process holds the database,
see :func:`podcasts.database.when_free`).
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from podcasts.arguments import http_url
from podcasts.database import connect, when_free
from podcasts.errors import SubscriptionError


@dataclass(frozen=True)
class Subscription:
    """A feed to subscribe to: its URL and, when known (from OPML, say), its title."""

    url: str
    title: str | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@when_free
def subscribe(db_path: Path, feeds: Iterable[Subscription]) -> int:
    """Subscribe to every feed in ``feeds`` in one transaction; return how many were not
    subscribed already. A known feed keeps its title and history; a title given here fills in
    only a title still unknown (the feed's own replaces it at its next fetch)."""
    with connect(db_path) as db:
        before = _subscribed_count(db)
        stored = _stored_spellings(db)
        db.executemany(
            "INSERT INTO feeds (url, title, subscribed_at) VALUES (:url, :title, :now) "
            "ON CONFLICT(url) DO UPDATE SET title = COALESCE(title, excluded.title), "
            "subscribed_at = COALESCE(subscribed_at, excluded.subscribed_at)",
            [{"url": stored.get(feed.url, feed.url), "title": feed.title, "now": _now()}
             for feed in feeds])
        return _subscribed_count(db) - before


def _stored_spellings(db: sqlite3.Connection) -> dict[str, str]:
    """The stored URL of each feed under its one spelling (:func:`arguments.http_url`): a row an
    older version stored as typed (``HTTP://Host/feed#top``) is the feed a new spelling names."""
    spellings = {}
    for (url,) in db.execute("SELECT url FROM feeds"):
        try:
            spellings.setdefault(http_url(url), url)
        except argparse.ArgumentTypeError:  # not an http(s) URL: no new spelling can name it
            pass
    return spellings


def _subscribed_count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM feeds WHERE subscribed_at IS NOT NULL").fetchone()[0]


@when_free
def unsubscribe(db_path: Path, url: str) -> None:
    """Stop updating ``url``; its episodes, transcripts and files stay.

    Raises:
        SubscriptionError: ``url`` is not subscribed (the message lists what is); a database
            that does not exist is not created.
    """
    if not db_path.exists():
        raise _not_subscribed(url, [])
    with connect(db_path) as db:
        changed = db.execute("UPDATE feeds SET subscribed_at = NULL "
                             "WHERE url = ? AND subscribed_at IS NOT NULL",
                             (_stored_spellings(db).get(url, url),)).rowcount
        if not changed:
            raise _not_subscribed(url, [row["url"] for row in db.execute(
                "SELECT url FROM feeds WHERE subscribed_at IS NOT NULL ORDER BY url LIMIT 4")])


def _not_subscribed(url: str, subscribed: list[str]) -> SubscriptionError:
    listed = ", ".join(subscribed[:3]) + (", ..." if len(subscribed) > 3 else "")
    return SubscriptionError(f"not subscribed to {url}; subscribed: {listed or 'none'} "
                             "(see the feeds command)")


@when_free
def subscribed_feeds(db_path: Path) -> list[str]:
    """The URLs of the subscribed feeds, oldest subscription first."""
    with connect(db_path) as db:
        return [row["url"] for row in db.execute(
            "SELECT url FROM feeds WHERE subscribed_at IS NOT NULL ORDER BY subscribed_at, url")]


@when_free
def feed_title(db_path: Path, url: str) -> str | None:
    """The stored channel title of ``url`` (None when unknown)."""
    with connect(db_path) as db:
        row = db.execute("SELECT title FROM feeds WHERE url = ?", (url,)).fetchone()
    return None if row is None else row["title"]


@when_free
def record_feed_error(db_path: Path, url: str, error: str) -> None:
    """Note that fetching a known feed failed now, with ``error`` (its validators stay)."""
    with connect(db_path) as db:
        db.execute("UPDATE feeds SET checked_at = ?, last_result = 'failed', last_error = ? "
                   "WHERE url = ?", (_now(), error, url))


@when_free
def feed_list(db_path: Path) -> list[dict[str, Any]]:
    """Every feed the database knows, subscribed first (then by title): its title, URL, whether
    it is subscribed, its episodes stored / downloaded / transcribed, and its last fetch (time,
    result, error)."""
    with connect(db_path) as db:
        rows = db.execute(
            "SELECT f.url, f.title, f.subscribed_at IS NOT NULL AS subscribed, f.subscribed_at, "
            "COUNT(e.link) AS episodes, COUNT(e.downloaded_at) AS downloaded, "
            "COUNT(t.link) AS transcribed, f.checked_at, f.last_result, f.last_error "
            "FROM feeds AS f LEFT JOIN episodes AS e ON e.feed_url = f.url "
            "LEFT JOIN transcripts AS t ON t.link = e.link GROUP BY f.url "
            "ORDER BY subscribed DESC, f.title IS NULL, lower(f.title), f.url").fetchall()
    return [{**dict(row), "subscribed": bool(row["subscribed"])} for row in rows]
