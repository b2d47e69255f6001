"""Web pages to read and listen: one per transcribed episode, and an index of them all.

``episodes/<name>.html`` sits beside ``<name>.mp3`` and ``<name>.vtt`` and needs nothing else: its
CSS and script are inline (allowed by a per-page nonce in its Content-Security-Policy, which
also forbids any network access), and the captions track carries its cues in a ``data:`` URL,
since Chromium loads no ``<track src>`` file from a page opened as a ``file://`` URL. Each line
of the transcript seeks the audio when clicked, the line being played is highlighted, a box
filters the lines, and ``<name>.html#t=83.4`` starts at 83.4 s. ``episodes/index.html`` lists the
feeds and their episodes, newest first, each linked to its page once it has one.

Every text from the feed or the transcript is HTML-escaped: a title holding ``<script>`` is
shown, never run. Pages are written atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import base64
import html
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from podcasts.database import connect, when_free
from podcasts.files import atomic_write
from podcasts.vtt import Cue, TimedText, render_vtt

TEMPLATES = Path(__file__).resolve().parent / "templates"
INDEX_NAME = "index.html"


def page_path(audio: Path) -> Path:
    """Where the page of ``audio`` goes: beside it, same stem, ``.html``."""
    return audio.with_suffix(".html")


def clock(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on: the time shown beside each line."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def _heading(episode: Mapping[str, Any]) -> str:
    """The page's heading lines: the feed, then the episode's title (both escaped)."""
    escape = html.escape
    return (f'<p class="feed">{escape(episode["feed"] or "Podcast")} · '
            f'{escape((episode["published"] or "")[:10])}</p>\n'
            f'  <h1>{escape(episode["title"] or episode["link"] or "Untitled episode")}</h1>')


def shows_current_titles(page: Path, episode: Mapping[str, Any]) -> bool:
    """Whether ``page`` still shows ``episode``'s stored title and feed title (``title``,
    ``feed``, ``published``, ``link``): a show or episode renamed since needs its page again."""
    try:
        return _heading(episode) in page.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def render_page(episode: dict[str, Any], segments: Iterable[Cue]) -> str:
    """The transcript page of ``episode`` (``title``, ``feed``, ``published``, ``filename``,
    ``language``), one clickable line per segment (``start``, ``end``, ``text``)."""
    segments = list(segments)
    escape = html.escape
    lines = "\n".join(
        f'<li data-start="{s.start:.3f}" data-end="{s.end:.3f}">'
        f'<time>{clock(s.start)}</time>{escape(" ".join(s.text.split()))}</li>'
        for s in segments)
    vtt = render_vtt(segments).encode("utf-8")
    return _template("transcript.html").substitute(
        nonce=secrets.token_urlsafe(16),
        language=escape(episode.get("language") or "en"),
        title=escape(episode.get("title") or episode.get("link") or "Untitled episode"),
        heading=_heading({key: episode.get(key) for key in ("feed", "published", "title",
                                                            "link")}),
        audio=escape(quote(episode["filename"])),
        captions="data:text/vtt;base64," + base64.b64encode(vtt).decode("ascii"),
        lines=lines)


def render_index(feeds: list[dict[str, Any]], pages: set[str]) -> str:
    """The index page: each feed (``title``, ``url``, ``episodes``) with its episodes (``title``,
    ``published``, ``filename``), linked to their page when its file name is in ``pages``."""
    escape = html.escape
    sections = []
    for feed in feeds:
        items = []
        for episode in feed["episodes"]:
            title = escape(episode["title"] or episode["link"])
            page = page_path(Path(episode["filename"] or "none")).name
            entry = (f'<a href="{escape(quote(page))}">{title}</a>' if page in pages
                     else f'{title} <span class="none">(no transcript yet)</span>')
            items.append(f'<li><time>{escape((episode["published"] or "")[:10])}</time>'
                         f"{entry}</li>")
        sections.append(f'<h2>{escape(feed["title"] or feed["url"] or "Episodes")}</h2>\n'
                        f'<p class="url">{escape(feed["url"] or "")}</p>\n'
                        f'<ul>\n{chr(10).join(items)}\n</ul>')
    return _template("index.html").substitute(nonce=secrets.token_urlsafe(16),
                                              feeds="\n".join(sections))


def write_text(target: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically; return ``target``."""
    with atomic_write(target) as stream:
        stream.write(text.encode("utf-8"))
    return target


@when_free
def episode_for_page(db_path: Path, link: str) -> tuple[dict[str, Any], list[TimedText]]:
    """The episode ``link`` (with its feed's title and its transcript's language) and its
    segments, read in one transaction."""
    with connect(db_path) as db:
        row = db.execute(
            "SELECT e.link, e.title, e.published, e.filename, f.title AS feed, t.language "
            "FROM episodes AS e JOIN transcripts AS t ON t.link = e.link "
            "LEFT JOIN feeds AS f ON f.url = e.feed_url WHERE e.link = ?", (link,)).fetchone()
        segments = [TimedText(*cue) for cue in db.execute(
            'SELECT start, "end", text FROM segments WHERE link = ? ORDER BY start, id', (link,))]
    return dict(row) if row else {}, segments


def write_page(db_path: Path, episodes_dir: Path, link: str) -> Path | None:
    """Write the page of the transcribed episode ``link``; return it (None: no transcript).

    Raises:
        FileWriteError: the page cannot be written (a full disk); no partial file is left.
    """
    episode, segments = episode_for_page(db_path, link)
    if not episode.get("filename"):
        return None
    return write_text(page_path(episodes_dir / episode["filename"]),
                      render_page(episode, segments))


@when_free
def feeds_and_episodes(db_path: Path) -> list[dict[str, Any]]:
    """Every feed with its stored episodes, newest first; episodes of no known feed last."""
    with connect(db_path) as db:
        feeds = [dict(row, episodes=[]) for row in db.execute(
            "SELECT url, title FROM feeds ORDER BY title IS NULL, title, url")]
        by_url = {feed["url"]: feed for feed in feeds}
        orphans: dict[str, Any] = {"url": None, "title": None, "episodes": []}
        for row in db.execute("SELECT link, title, published, filename, feed_url FROM episodes "
                              "ORDER BY published IS NULL, published DESC, link"):
            by_url.get(row["feed_url"], orphans)["episodes"].append(dict(row))
    return [feed for feed in [*feeds, orphans] if feed["episodes"]]


def write_index(db_path: Path, episodes_dir: Path) -> Path:
    """Write ``episodes/index.html`` from the database and the pages in ``episodes_dir``."""
    pages = {path.name for path in episodes_dir.glob("*.html")} - {INDEX_NAME}
    return write_text(episodes_dir / INDEX_NAME,
                      render_index(feeds_and_episodes(db_path), pages))
