"""How often a search finds the sentence it was typed from: this project's index against a plain
one, on the speech samples (../shared/data/podcast/speech, each MP3 beside its exact text).

The four samples are transcribed with the bundled model, then searched with every pair of
adjacent words of their reference texts (within a sentence), twice: as written, and with the
last word's plural ``-s`` added or removed ("interest rates" → "interest rate", "prices still"
→ "prices stills"), the way a user's words differ from the speaker's. A query finds its
sentence when a hit is in the right sample and starts within a second of where that sentence
is said (the reference is aligned to the transcript's timed words). "Before" is the previous
index: one row per segment, no stemming, every word anywhere in the segment; "after" is
:func:`podcasts.search.search` (a phrase, stemmed, across two segments).

    python benchmarks/search_benchmark.py        # about 20 s: transcribing is most of it
"""

from __future__ import annotations

import difflib
import re
import sqlite3
import sys
import tempfile
from pathlib import Path

# The package lives one folder up; a script puts only its own folder (benchmarks/) on sys.path.
PROJECT_DIR = Path(__file__).resolve().parents[1]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

# pylint: disable=wrong-import-position  # these need the path above
from podcasts.feed import Episode
from podcasts.search import search
from podcasts.speech_to_text import DEFAULT_MODEL, Transcript, load_model, transcribe_file
from podcasts.storage import create_table, load_episodes, save_transcript

# pylint: enable=wrong-import-position

SPEECH_DIR = PROJECT_DIR.parents[1] / "shared" / "data" / "podcast" / "speech"
SAMPLES = ("economy", "story", "technology", "jfk")
WORD = re.compile(r"[\w']+")
SLACK = 1.0  # seconds around the sentence a hit may start in
BEFORE_SCHEMA = ("CREATE VIRTUAL TABLE segments_fts USING fts5(link UNINDEXED, start UNINDEXED, "
                 "\"end\" UNINDEXED, text, tokenize='unicode61 remove_diacritics 2')")


def words_of(text: str) -> list[str]:
    """Lower-cased words, apostrophes kept."""
    return [word.lower() for word in WORD.findall(text)]


def other_form(word: str) -> str:
    """The word with a plural -s removed, or added."""
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word + "s"


def sentence_spans(reference: str, transcript: Transcript) -> list[tuple[list[str], float, float]]:
    """Each reference sentence's words, and the seconds it is said (aligned to timed words)."""
    timed = [(w.text.strip(), w.start, w.end) for s in transcript.segments for w in s.words]
    said = [words_of(text)[0] if words_of(text) else "" for text, _, _ in timed]
    sentences = [words_of(s) for s in re.split(r"(?<=[.!?])\s+", reference) if words_of(s)]
    flat = [word for sentence in sentences for word in sentence]
    at: dict[int, int] = {}
    for block in difflib.SequenceMatcher(a=flat, b=said, autojunk=False).get_matching_blocks():
        at.update({block.a + i: block.b + i for i in range(block.size)})
    spans, first = [], 0
    for sentence in sentences:
        aligned = [at[i] for i in range(first, first + len(sentence)) if i in at]
        if aligned:
            spans.append((sentence, timed[min(aligned)][1], timed[max(aligned)][2]))
        first += len(sentence)
    return spans


def search_before(db_path: Path, query: list[str]) -> list[tuple[str, float]]:
    """The previous index's hits: segments holding every word, not stemmed."""
    match = " ".join(f'"{word}"' for word in query)
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT link, start FROM segments_fts WHERE segments_fts MATCH ? "
                          "ORDER BY rank", (match,)).fetchall()


def found(hits: list[tuple[str, float]], name: str, start: float, end: float) -> bool:
    """Whether a hit is in sample ``name`` and starts while its sentence is said."""
    return any(link == name and start - SLACK <= second <= end + SLACK for link, second in hits)


def index_samples(folder: Path) -> tuple[Path, Path, dict[str, list]]:
    """Transcribe the samples into both indexes; return them and each sample's sentences."""
    model = load_model(DEFAULT_MODEL, threads=2)
    after_db, before_db = folder / "after.db", folder / "before.db"
    create_table(after_db)
    spans = {}
    with sqlite3.connect(before_db) as before:
        before.execute(BEFORE_SCHEMA)
        for name in SAMPLES:
            said = transcribe_file(model, SPEECH_DIR / f"{name}.mp3", DEFAULT_MODEL,
                                   show_progress=False)
            load_episodes(after_db, [Episode(link=name, title=name, filename=f"{name}.mp3",
                                             published=None, description=None, url="")])
            save_transcript(after_db, name, said, f"{name}.vtt")
            before.executemany("INSERT INTO segments_fts VALUES (?, ?, ?, ?)",
                               [(name, s.start, s.end, s.text) for s in said.segments])
            spans[name] = sentence_spans((SPEECH_DIR / f"{name}.txt").read_text(), said)
    return after_db, before_db, spans


def main() -> int:
    """Transcribe, index both ways, search, print the counts as a Markdown table."""
    if not (SPEECH_DIR / "jfk.mp3").is_file():
        raise SystemExit(f"error: speech samples not found in {SPEECH_DIR}")
    counts = {kind: [0, 0, 0] for kind in ("as written", "last word's -s toggled")}
    with tempfile.TemporaryDirectory(prefix="search-benchmark-") as folder:
        after_db, before_db, spans = index_samples(Path(folder))
        for name, sentences in spans.items():
            for sentence, start, end in sentences:
                for pair in zip(sentence, sentence[1:]):
                    for kind, query in zip(counts, (list(pair), [pair[0], other_form(pair[1])])):
                        after = [(hit["link"], hit["start"])
                                 for hit in search(after_db, " ".join(query), limit=50)]
                        counts[kind][0] += 1
                        counts[kind][1] += found(search_before(before_db, query), name, start, end)
                        counts[kind][2] += found(after, name, start, end)
    print("| queries (pairs of adjacent words) | count | found before | found now |")
    print("|---|---|---|---|")
    for kind, (total, before_found, after_found) in counts.items():
        print(f"| {kind} | {total} | {before_found} ({before_found / total:.0%}) "
              f"| {after_found} ({after_found / total:.0%}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
