"""Draw images/transcript-page.png: a real transcript page in headless Chromium.

The economy speech sample (../shared/data/podcast/speech) is transcribed with the bundled model,
its page written as a run writes it (podcasts/pages.py), opened from a file:// URL at ``#t=``
(the third line highlighted, as a search hit's page link opens it), and photographed. Needs
Chromium on the PATH (Debian's ``chromium``) and Playwright.

    python benchmarks/page_screenshot.py [--out images/transcript-page.png]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

# The package lives one folder up; a script puts only its own folder (benchmarks/) on sys.path.
PROJECT_DIR = Path(__file__).resolve().parents[1]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

# pylint: disable=wrong-import-position  # these need the path above
from podcasts.pages import page_path, render_page, write_text
from podcasts.speech_to_text import DEFAULT_MODEL, load_model, transcribe_file

# pylint: enable=wrong-import-position

SAMPLE = PROJECT_DIR.parents[1] / "shared" / "data" / "podcast" / "speech" / "economy.mp3"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def screenshot(out: Path, folder: Path) -> Path:
    """Transcribe the sample into ``folder``, write its page there, photograph it to ``out``."""
    audio = folder / "economy.mp3"
    shutil.copyfile(SAMPLE, audio)
    said = transcribe_file(load_model(DEFAULT_MODEL, threads=2), audio, DEFAULT_MODEL,
                           show_progress=False)
    episode = {"link": "https://example.org/economy", "title": "Prices, wages and interest rates",
               "feed": "Speech samples", "published": "2026-11-24", "filename": audio.name,
               "language": said.language}
    page = write_text(page_path(audio), render_page(episode, said.segments))
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("error: chromium is not on the PATH (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 860, "height": 620})
        tab.goto(f"{page.as_uri()}#t={said.segments[2].start + 0.5:.1f}")
        tab.wait_for_function("() => document.querySelector('li.current') !== null")
        tab.screenshot(path=str(out))
        browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, draw the image, print where it went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "images" / "transcript-page.png",
                        help="where the PNG goes (default: %(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        print(screenshot(args.out, Path(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
