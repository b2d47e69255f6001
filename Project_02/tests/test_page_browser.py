"""The transcript page in a real browser: Debian's Chromium, headless, driven by Playwright.

Opened as a file:// URL, as a user opens it from the episodes folder: the captions track has its
cues, a click on a line seeks the audio there, the highlighted line follows the playback, the
box filters the lines, ``#t=`` seeks on load, and a title holding a script does not run it.
Skipped where Chromium (``chromium`` on the PATH) or the speech samples are missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from podcasts.pages import page_path, render_page, write_text
from podcasts.vtt import TimedText

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
# What JFK says in jfk.mp3 (11 s), in three lines.
FRAME = 0.05  # Chromium lands a seek on an MP3 frame boundary (26 ms frames), not the exact second
CUES = [TimedText(0.0, 3.0, "And so my fellow Americans,"),
        TimedText(3.0, 7.6, "ask not what your country can do for you,"),
        TimedText(7.6, 11.0, "ask what you can do for your country.")]


@pytest.fixture(name="browser", scope="module")
def fixture_browser() -> Iterator[object]:
    """One headless Chromium for the module (skips where it is not installed)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def make_page(folder: Path, speech_dir: Path, title: str = "Inaugural address") -> Path:
    """An episode folder holding jfk.mp3 (renamed as a downloaded episode is) and its page."""
    audio = folder / "jfk episode.mp3"
    shutil.copyfile(speech_dir / "jfk.mp3", audio)
    episode = {"link": "https://example.org/jfk", "title": title, "feed": "Speeches",
               "published": "1961-01-20", "filename": audio.name, "language": "en"}
    return write_text(page_path(audio), render_page(episode, CUES))


@pytest.fixture(name="tab")
def fixture_tab(browser, tmp_path: Path, speech_dir: Path) -> Iterator[object]:
    """The transcript page of jfk.mp3, opened from a file:// URL in a fresh context; the
    console's messages are collected in ``tab.console``."""
    page = make_page(tmp_path, speech_dir)
    context = browser.new_context()
    tab = context.new_page()
    tab.console = []
    tab.on("console", lambda message: tab.console.append(message.text))
    tab.goto(page.as_uri())
    tab.wait_for_function("() => document.getElementById('player').readyState >= 1")
    yield tab
    context.close()


def current_line(tab) -> str | None:
    """The text of the highlighted line, or None."""
    return tab.evaluate("(document.querySelector('li.current') || {}).textContent || null")


def test_the_captions_track_has_every_cue(tab) -> None:
    """Chromium loaded the embedded track: three cues at their seconds; no policy violation."""
    tab.wait_for_function(
        "() => document.getElementById('player').textTracks[0].cues?.length > 0")
    cues = tab.evaluate("Array.from(document.getElementById('player').textTracks[0].cues,"
                        " c => [c.startTime, c.endTime, c.text])")
    assert cues == [[c.start, c.end, c.text] for c in CUES]
    assert tab.evaluate("document.getElementById('player').duration") == pytest.approx(11, abs=0.2)
    assert not [text for text in tab.console if "Content Security Policy" in text]


def test_a_click_on_a_line_seeks_there(tab) -> None:
    """Clicking the third line moves the audio to 7.6 s and highlights that line."""
    tab.click("li:nth-child(3)")
    seconds = tab.evaluate("document.getElementById('player').currentTime")
    assert seconds == pytest.approx(7.6, abs=FRAME)
    assert current_line(tab) == "0:07ask what you can do for your country."


def test_the_highlight_follows_the_playback(tab) -> None:
    """Setting currentTime (as playing does) moves the highlight to the line being said."""
    for seconds, line in [(4.2, 1), (0.5, 0), (10.9, 2)]:
        tab.evaluate(f"document.getElementById('player').currentTime = {seconds}")
        tab.wait_for_function(f"() => document.querySelectorAll('li')[{line}]"
                              ".classList.contains('current')")
        assert tab.locator("li.current").count() == 1


def test_the_search_box_filters_the_lines(tab) -> None:
    """Typing keeps the lines that say it (any case, accents or not); clearing shows all."""
    tab.fill("#filter", "ASK WHAT")
    assert tab.locator("li:visible").all_inner_texts() == [
        "0:07ask what you can do for your country."]
    tab.fill("#filter", "countrý")
    assert tab.locator("li:visible").count() == 2
    tab.fill("#filter", "")
    assert tab.locator("li:visible").count() == 3


def test_a_time_in_the_url_seeks_on_load(browser, tmp_path: Path, speech_dir: Path) -> None:
    """page.html#t=4.5 opens at 4.5 s, the second line highlighted."""
    page = make_page(tmp_path, speech_dir)
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(page.as_uri() + "#t=4.5")
        tab.wait_for_function("() => document.getElementById('player').readyState >= 1")
        assert tab.evaluate("document.getElementById('player').currentTime") == pytest.approx(
            4.5, abs=FRAME)
        assert current_line(tab) == "0:03ask not what your country can do for you,"
    finally:
        context.close()


def test_a_script_in_the_title_does_not_run(browser, tmp_path: Path, speech_dir: Path) -> None:
    """A feed title holding <script> is shown as text; it never runs."""
    evil = ('<script>document.title="pwned"; window.pwned = true</script>'
            '<img src=x onerror="window.pwned = true">')
    page = make_page(tmp_path, speech_dir, title=evil)
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(page.as_uri())
        tab.wait_for_load_state("load")
        assert tab.evaluate("window.pwned") is None
        assert tab.title() == evil and tab.inner_text("h1") == evil
    finally:
        context.close()
