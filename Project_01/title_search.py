"""Find the movie a person means from a free-text title.

Every MovieLens title is split into the names it carries ("Léon: The Professional (a.k.a. The
Professional) (Léon) (1994)" has three, and a year), each normalized: accents folded, case folded,
a trailing article moved to the front ("Matrix, The" -> "the matrix"), roman sequel numbers made
digits. A character n-gram TF-IDF finds candidate names quickly and tolerates typos; each candidate
is then scored by how well the words match both ways, the year if the query gives one, and, a
little, by how often the movie was rated, so a bare franchise name finds the film people mean.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher
from functools import lru_cache

import numpy as np

from movie_errors import NoMatchError

ARTICLES = frozenset(
    "the a an les la le l il el die der das los las lo gli un une det den de".split()
)
ROMAN = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9"}
TRAILING_ARTICLE = re.compile(r"^(?P<base>.+), (?P<article>[a-z]+'?)$", re.IGNORECASE)
TRAILING_YEAR = re.compile(r"\s*\((?P<year>\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$")
TRAILING_GROUP = re.compile(r"\s*\((?P<alt>[^()]+)\)\s*$")
QUERY_YEAR = re.compile(r"^(?P<text>.*?)\s*\(?(?P<year>(?:18|19|20)\d\d)\)?$")
CANDIDATES = 100  # names kept from the TF-IDF stage for exact scoring
POPULARITY_WEIGHT = 0.15
YEAR_MISMATCH = 0.85


def fold(text: str) -> str:
    """Lower-case ``text``, drop accents and punctuation, and collapse white space."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("&", " and ").replace("'", "")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(ROMAN.get(word, word) for word in words)


def _front_article(name: str) -> str:
    match = TRAILING_ARTICLE.match(name.strip())
    if match and fold(match.group("article")) in ARTICLES:
        article = match.group("article")
        joiner = "" if article.endswith("'") else " "
        return f"{article}{joiner}{match.group('base')}"
    return name


def parse_title(title: str) -> tuple[list[str], int | None]:
    """Split a MovieLens title into its folded names (main name first) and its year."""
    title = title.strip()
    year = None
    match = TRAILING_YEAR.search(title)
    if match:
        year = int(match.group("year"))
        title = title[: match.start()]
    alternatives = []
    while (match := TRAILING_GROUP.search(title)) and match.start() > 0:
        alternatives.append(re.sub(r"^a\.?k\.?a\.?\s+", "", match.group("alt"), flags=re.I))
        title = title[: match.start()]
    names = [fold(_front_article(name)) for name in [title, *reversed(alternatives)]]
    return [name for name in dict.fromkeys(names) if name], year


def query_readings(query: str) -> list[tuple[str, int | None]]:
    """Return the ways to read a query: as plain text, and with a trailing year as a year hint."""
    text = query.strip()
    readings = [(fold(text), None)]
    match = QUERY_YEAR.match(text)
    if match and fold(match.group("text")) and int(match.group("year")) <= date.today().year + 2:
        readings.append((fold(match.group("text")), int(match.group("year"))))
    return [(words, year) for words, year in readings if words]


@lru_cache(maxsize=1 << 16)
def _word_similarity(left: str, right: str) -> float:
    if left == right:
        return 1.0
    if left.isdigit() or right.isdigit() or min(len(left), len(right)) < 4:
        return 0.0
    ratio = SequenceMatcher(None, left, right).ratio()
    return ratio if ratio >= 0.8 else 0.0


def _coverage(words: list[str], other: list[str], weights: Mapping[str, float]) -> float:
    """Weighted mean over ``words`` of each one's best match in ``other``; articles do not count.

    A word's weight is its rarity among titles (IDF), so "terminator" counts for more than "2".
    """
    content = [w for w in words if w not in ARTICLES] or words
    total = sum(weights.get(w, 1.0) for w in content)
    if total == 0.0:
        return 0.0
    matched = sum(weights.get(w, 1.0) * max((_word_similarity(w, o) for o in other), default=0.0)
                  for w in content)
    return matched / total


def text_similarity(query: str, name: str, weights: Mapping[str, float] | None = None) -> float:
    """Score in [0, 1] of how well a folded query matches a folded name (1.0 = same words).

    ``weights`` maps words to their importance (default: all equal).
    """
    weights = weights or {}
    query_words, name_words = query.split(), name.split()
    query_coverage = _coverage(query_words, name_words, weights)
    if query_coverage == 0.0:
        return 0.0
    name_coverage = _coverage(name_words, query_words, weights)
    shape = SequenceMatcher(None, query, name).ratio()
    return query_coverage * (0.7 + 0.15 * name_coverage + 0.15 * shape)


@dataclass(frozen=True)
class Match:
    """A movie that matched a query, with its ranking score in [0, 1]."""

    movie_id: int
    title: str
    genres: str
    similarity: float


class TitleIndex:
    """Search index over MovieLens titles; build once, query many times."""

    def __init__(self, movie_ids: Sequence[int], titles: Sequence[str], genres: Sequence[str],
                 rating_counts: Sequence[int]) -> None:
        """Index movies given as aligned sequences; ``rating_counts`` is each movie's #ratings."""
        self.movie_ids = np.asarray(movie_ids)
        self.titles = np.asarray(titles, dtype=object)
        self.genres = np.asarray(genres, dtype=object)
        counts = np.asarray(rating_counts, dtype=float)
        self.popularity = np.log1p(counts) / max(np.log1p(counts.max(initial=0.0)), 1.0)
        self.years = np.zeros(len(self.movie_ids), dtype=np.int32)
        names, owners = [], []
        for row, title in enumerate(self.titles):
            movie_names, year = parse_title(title)
            self.years[row] = year or 0
            names.extend(movie_names)
            owners.extend([row] * len(movie_names))
        self.names = names
        self.owners = np.asarray(owners, dtype=np.int64)
        document_frequency = Counter(word for name in names for word in set(name.split()))
        self.word_weights = {word: float(np.log((1 + len(names)) / (1 + count)) + 1.0)
                             for word, count in document_frequency.items()}
        # pylint: disable-next=import-outside-toplevel  # ~1 s to import; only title search needs it
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), sublinear_tf=True)
        self.name_matrix = self.vectorizer.fit_transform(names).tocsr()

    def _candidates(self, text: str) -> np.ndarray:
        scores = (self.name_matrix @ self.vectorizer.transform([text]).T).toarray().ravel()
        keep = min(CANDIDATES, scores.size)
        top = np.argpartition(-scores, keep - 1)[:keep]
        return top[scores[top] > 0]

    def search(self, query: str, limit: int = 5) -> list[Match]:
        """Return up to ``limit`` movies best matching ``query``, best first."""
        best: dict[int, float] = {}
        for text, year in query_readings(query):
            for name_row in self._candidates(text):
                row = int(self.owners[name_row])
                score = text_similarity(text, self.names[name_row], self.word_weights)
                if year is not None and self.years[row] != year:
                    score *= YEAR_MISMATCH
                score = (1 - POPULARITY_WEIGHT) * score + POPULARITY_WEIGHT * self.popularity[row]
                if score > best.get(row, 0.0):
                    best[row] = score
        rows = sorted(best, key=lambda r: (-round(best[r], 9), -self.popularity[r], r))
        rows = [r for r in rows if best[r] > POPULARITY_WEIGHT][:limit]
        if not rows:
            raise NoMatchError(f"no movie title matches {query!r}")
        return [
            Match(int(self.movie_ids[r]), str(self.titles[r]), str(self.genres[r]), float(best[r]))
            for r in rows
        ]
