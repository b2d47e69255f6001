"""OPML 2.0, the file podcast apps exchange subscriptions in (gPodder, AntennaPod, Pocket Casts...).

Reading takes every ``<outline>`` with an ``xmlUrl``, however deeply it is nested in folders;
its title is the ``title`` attribute, else ``text``. An outline without ``xmlUrl`` (a folder, a
note) or with a URL that is not http(s) is skipped and counted; a URL listed twice is imported
once. Entity declarations are refused, as in :mod:`podcasts.feed`, so a "billion laughs" file
fails at once. Writing gives each subscription one ``<outline type="rss">`` with ``text``,
``title`` and ``xmlUrl``, which those apps import.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict

from podcasts.arguments import http_url
from podcasts.errors import OpmlError
from podcasts.subscriptions import Subscription

MAX_OPML_BYTES = 10 * 1024 * 1024  # a few thousand subscriptions take well under 1 MB


@dataclass(frozen=True)
class OpmlFeeds:
    """The feeds an OPML file lists (first mention of each URL), and the outlines skipped, each
    with its reason."""

    feeds: list[Subscription]
    skipped: list[str]


def read_opml(path: Path) -> OpmlFeeds:
    """Read the feeds of the OPML file at ``path``.

    Raises:
        OpmlError: the file is too big, not well-formed XML, not OPML, or lists no usable feed.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as handle:
        payload = handle.read(MAX_OPML_BYTES + 1)
    if len(payload) > MAX_OPML_BYTES:
        raise OpmlError(f"{path} is larger than {MAX_OPML_BYTES} bytes: not a subscription list")
    try:
        document = xmltodict.parse(payload.lstrip(), disable_entities=True,
                                   force_list=("outline",))
    except ExpatError as exc:
        raise OpmlError(f"{path} is not well-formed XML: {exc}") from exc
    except ValueError as exc:  # xmltodict refuses entity declarations with ValueError
        raise OpmlError(f"{path} refused: {exc}") from exc
    root = next(iter(document), None) if isinstance(document, dict) else None
    if root != "opml":
        raise OpmlError(f"{path} is not OPML: its root element is <{root}>, not <opml>")
    body = document["opml"].get("body") if isinstance(document["opml"], dict) else None
    found = _feeds(body if isinstance(body, dict) else {})
    if not found.feeds:
        reasons = f" ({len(found.skipped)} outlines skipped, e.g. {found.skipped[0]})" \
            if found.skipped else ""
        raise OpmlError(f"{path} lists no http(s) feed (no <outline> with an xmlUrl){reasons}")
    return found


def _feeds(body: dict[str, Any]) -> OpmlFeeds:
    """Every feed outline under ``body``, depth first in document order."""
    feeds: dict[str, Subscription] = {}
    skipped: list[str] = []
    stack = list(reversed(_outlines(body)))
    while stack:
        outline = stack.pop()
        children = _outlines(outline)
        attributes = {key.lower(): str(value).strip() for key, value in outline.items()
                      if key.startswith("@") and value is not None}
        label = attributes.get("@title") or attributes.get("@text") or None
        url = attributes.get("@xmlurl", "")
        if url:
            try:
                url = http_url(url)
            except argparse.ArgumentTypeError:
                skipped.append(f"{label or 'an outline'}: xmlUrl {url[:200]!r} is not http(s)")
            else:
                feeds.setdefault(url, Subscription(url, label if label != url else None))
        elif not children:
            skipped.append(f"{label or 'an outline'}: no xmlUrl")
        stack.extend(reversed(children))
    return OpmlFeeds(list(feeds.values()), skipped)


def _outlines(element: Any) -> list[dict[str, Any]]:
    """The ``<outline>`` children of ``element`` (xmltodict gives ``None`` for an empty one)."""
    if not isinstance(element, dict):
        return []
    return [child if isinstance(child, dict) else {} for child in element.get("outline") or []]


def opml_document(feeds: list[dict[str, Any]], title: str = "Podcast subscriptions") -> bytes:
    """An OPML 2.0 document (UTF-8) listing ``feeds`` (dicts with ``url`` and ``title``)."""
    outlines = [{"@type": "rss", "@text": feed["title"] or feed["url"],
                 **({"@title": feed["title"]} if feed["title"] else {}), "@xmlUrl": feed["url"]}
                for feed in feeds]
    document = {"opml": {"@version": "2.0", "head": {
        "title": title, "dateCreated": format_datetime(datetime.now(timezone.utc))},
        "body": {"outline": outlines} if outlines else None}}
    return xmltodict.unparse(document, pretty=True, indent="  ").encode() + b"\n"
