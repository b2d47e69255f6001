"""Transcript pages and the index page, as files: self-contained, escaped, written by a run beside
the audio and written again when missing. (tests/test_page_browser.py drives them in Chromium.)"""

from __future__ import annotations

import base64
import re
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podcast_testkit import SILENT_MP3, FaultServer, make_feed, make_item, respond

from podcast_pipeline import main
from podcasts.pages import clock, render_index, render_page
from podcasts.transcription import restore_missing_files
from podcasts.vtt import TimedText, render_vtt

EVIL = '<script>document.title="pwned"</script> & "quotes"'
CUES = [TimedText(0.0, 2.0, "first line"), TimedText(2.0, 4.5, f"said {EVIL}")]
EPISODE = {"link": "https://example.org/ep/1", "title": EVIL, "feed": f"Feed {EVIL}",
           "published": "2024-01-02T08:00:00+00:00", "filename": "my episode#1.mp3",
           "language": "en"}


def sources(page: str) -> list[str]:
    """Every src and href in ``page``."""
    return re.findall(r'(?:src|href)="([^"]*)"', page)


@pytest.mark.parametrize(("seconds", "shown"), [(0, "0:00"), (83.4, "1:23"), (3661, "1:01:01")])
def test_clock(seconds: float, shown: str) -> None:
    """m:ss, and h:mm:ss from an hour on."""
    assert clock(seconds) == shown


def test_a_page_is_self_contained() -> None:
    """No external script, style or font: the audio beside it and the captions inline; a
    Content-Security-Policy forbids everything else, and the inline parts carry its nonce."""
    page = render_page(EPISODE, CUES)
    audio, captions = sources(page)
    assert unquote(audio) == "my episode#1.mp3" and "#" not in audio
    assert captions.startswith("data:text/vtt;base64,")
    assert base64.b64decode(captions.split(",", 1)[1]).decode() == render_vtt(CUES)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    nonce = re.search(r"script-src 'nonce-([^']+)'", page).group(1)
    assert "default-src 'none'" in page
    assert page.count(f'nonce="{nonce}"') == 2 and page.count("<script") == 1
    assert render_page(EPISODE, CUES) != page  # a fresh nonce each time


def test_every_text_is_escaped() -> None:
    """A title, feed or line holding <script> shows it as text: the only script is ours."""
    page = render_page(EPISODE, CUES)
    assert "<script>document" not in page
    assert page.count("&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;") == 4
    assert '<li data-start="2.000" data-end="4.500"><time>0:02</time>said &lt;script&gt;' in page
    index = render_index([{"url": "http://a.test/feed?a=1&b=<2>", "title": EVIL, "episodes": [
        {"link": "l", "title": EVIL, "published": "2024-01-02", "filename": "x.mp3"}]}],
        {"x.html"})
    assert "<script" not in index and '<a href="x.html">&lt;script&gt;' in index
    assert "http://a.test/feed?a=1&amp;b=&lt;2&gt;" in index


def test_the_index_links_only_the_pages_there() -> None:
    """An episode without a page is listed, not linked."""
    index = render_index([{"url": "u", "title": "Show", "episodes": [
        {"link": "a", "title": "With", "published": "2024-01-03T00:00", "filename": "a.mp3"},
        {"link": "b", "title": None, "published": None, "filename": "b.mp3"}]}], {"a.html"})
    assert '<time>2024-01-03</time><a href="a.html">With</a>' in index
    assert '<time></time>b <span class="none">(no transcript yet)</span>' in index


def serve(server: FaultServer, speech: bytes) -> str:
    """A feed of two episodes: silence, then speech; its title holds markup."""
    items = [make_item(1, server.url("/1.mp3"), day=1), make_item(2, server.url("/2.mp3"), day=2)]
    items[1] = items[1].replace("<title>Episode 2</title>", "<title>Episode &lt;b&gt;2</title>")
    server.routes["/feed.xml"] = [respond(make_feed(items))]
    server.routes["/1.mp3"] = [respond(SILENT_MP3)]
    server.routes["/2.mp3"] = [respond(speech)]
    return server.url("/feed.xml")


def test_a_run_writes_each_page_and_the_index(server: FaultServer, speech_dir: Path,
                                              db_path: Path, episodes_dir: Path) -> None:
    """Beside each transcribed episode its page (the audio file's own name in it); the index
    lists both episodes; a page deleted or cut short is written again by the next run."""
    args = ["run", "--feed-url", serve(server, (speech_dir / "jfk.mp3").read_bytes()),
            "--db-path", str(db_path), "--episodes-dir", str(episodes_dir)]
    assert main(args) == 0
    pages = sorted(episodes_dir.glob("*.html"))
    assert [p.name for p in pages if p.name != "index.html"] == sorted(
        p.with_suffix(".html").name for p in episodes_dir.glob("*.mp3"))
    speech = next(p for p in pages if "fellow Americans" in p.read_text())
    assert f'src="{speech.with_suffix(".mp3").name}"' in speech.read_text()
    assert "<h1>Episode &lt;b&gt;2</h1>" in speech.read_text()
    index = (episodes_dir / "index.html").read_text()
    assert index.count("<li>") == 2 and f'href="{speech.name}"' in index
    speech.unlink()
    silence = next(p for p in pages if p not in (speech, episodes_dir / "index.html"))
    silence.write_bytes(silence.read_bytes()[:300])  # cut short (a crash, a full disk)
    assert main(args) == 0
    assert "fellow Americans" in speech.read_text()
    assert silence.read_text().endswith("</html>\n")
    assert not list(episodes_dir.glob(".*.part"))


def test_a_renamed_show_or_episode_gets_its_page_again(server: FaultServer, speech_dir: Path,
                                                       db_path: Path, episodes_dir: Path) -> None:
    """A page showing a title the database no longer holds (the show renamed itself, an episode
    was retitled) is written again with the stored titles; pages still current are left alone."""
    args = ["run", "--feed-url", serve(server, (speech_dir / "jfk.mp3").read_bytes()),
            "--db-path", str(db_path), "--episodes-dir", str(episodes_dir)]
    assert main(args) == 0
    pages = {p: p.stat().st_mtime_ns for p in episodes_dir.glob("*.html") if p.name != "index.html"}
    assert not restore_missing_files(db_path, episodes_dir)
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE feeds SET title = 'Renamed <show>'")
        db.execute("UPDATE episodes SET title = 'New & improved' WHERE title = 'Episode <b>2'")
    restored = restore_missing_files(db_path, episodes_dir)
    assert sorted(restored) == sorted(pages)
    speech = next(p for p in pages if "fellow Americans" in p.read_text())
    assert "<h1>New &amp; improved</h1>" in speech.read_text()
    assert all('<p class="feed">Renamed &lt;show&gt; · ' in p.read_text() for p in pages)
    assert not restore_missing_files(db_path, episodes_dir)


class Elements(HTMLParser):
    """The tags of a page and the text of its <h1> and <li> elements, as a browser parses them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.texts: dict[str, list[str]] = {"h1": [], "li": []}
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.open.append(tag)
        if tag in self.texts:
            self.texts[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] in self.texts:
            self.texts[self.open[-1]][-1] += data


@settings(max_examples=150, deadline=None)
@given(title=st.text(max_size=40), said=st.text(max_size=40).filter(str.strip))
def test_no_feed_title_or_transcript_text_adds_markup(title: str, said: str) -> None:
    """Whatever a feed or the model says, the page has the same tags, one script (its own),
    and shows the title and the line as they were written."""
    page = render_page(dict(EPISODE, title=title or None), [TimedText(1.0, 2.0, said)])
    elements = Elements()
    elements.feed(page)
    assert elements.tags.count("script") == 1 and elements.tags.count("li") == 1
    assert elements.texts["h1"] == [title or EPISODE["link"]]
    assert elements.texts["li"] == [" ".join(said.split())]
