"""Find the movie a person means from a free-text title.

Every MovieLens title is split into the names it carries ("Léon: The Professional (a.k.a. The
Professional) (Léon) (1994)" has three, and a year), each normalized: accents folded, case folded,
a trailing article moved to the front ("Matrix, The" -> "the matrix"), roman sequel numbers made
digits. An inverted index of character trigrams over each name with its spaces removed finds
candidates quickly, tolerates typos, and treats "spider-man", "spider man" and "spiderman" alike.
Each candidate is then scored with rapidfuzz: how well the words match both ways, how well the
names match with spaces removed (for "good fellas" / "goodfellas"), the year if the query gives
one and, a little, how often the movie was rated, so a bare franchise name finds the film people
mean. A query's cost is bounded: it is cut to ``MAX_QUERY_CHARS`` first.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz

from movies.errors import NoMatchError, NotSureError

ARTICLES = frozenset(
    "the a an les la le l il el die der das los las lo gli un une det den de".split()
)
ROMAN = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9"}
LATE_ROMAN = {"v": "5", "x": "10"}  # only after another word: "Rocky V", not "V for Vendetta"
STOPWORDS = ARTICLES | frozenset("of and in on to for with at by from or is".split())
TRAILING_ARTICLE = re.compile(r"^(?P<base>.+), (?P<article>[a-z]+'?)$", re.IGNORECASE)
TRAILING_YEAR = re.compile(r"\s*\((?P<year>\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$")
TRAILING_GROUP = re.compile(r"\s*\((?P<alt>[^()]+)\)\s*$")
NOT_DIGITS = re.compile(r"\D+")
LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")  # "story2" -> "story 2"
QUERY_YEAR = re.compile(r"^(?P<text>.*?)\s*\(?(?P<year>(?:18|19|20)\d\d)\)?$")
MAX_QUERY_CHARS = 150  # longer than any MovieLens title people type; bounds a query's cost
CANDIDATES = 30  # names kept from the trigram stage for exact scoring
POPULARITY_WEIGHT = 0.15
YEAR_MISMATCH = 0.85
WORD_MATCH = 80.0  # rapidfuzz ratio (0-100) from which two words count as the same, misspelt
SQUASHED_MATCH = 0.85  # below this, names compared without spaces do not count as the same
SQUASHED_WEIGHT = 0.99  # ... and when they do, the same words spaced the same way still win
TIE_BREAK = 1e-4  # weight of popularity among names with the same trigram score


def fold(text: str) -> str:
    """Lower-case ``text``, drop accents and punctuation, and collapse white space."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("&", " and ").replace("'", "")
    words = LETTER_DIGIT.sub(" ", re.sub(r"[^a-z0-9]+", " ", text)).split()
    return " ".join(ROMAN.get(word, LATE_ROMAN.get(word, word) if i else word)
                    for i, word in enumerate(words))


def squash(folded: str) -> tuple[str, ...]:
    """``folded`` without spaces, and also without a leading article: "the spider man" ->
    ("thespiderman", "spiderman").

    "Spider-Man", "spider man" and "spiderman" fold to one string, as do "Lion King" and "lionking";
    the article is kept in one form because it may be a word ("Die Hard", "diehard").
    """
    first, _, rest = folded.partition(" ")
    forms = (folded, rest) if rest and first in ARTICLES else (folded,)
    return tuple(form.replace(" ", "") for form in forms)


def trigrams(folded: str) -> set[str]:
    """Character trigrams of the squashed forms, with their start (^) and end ($) marked."""
    grams = set()
    for form in squash(folded):
        padded = f"^{form}$"
        grams.update(padded[i: i + 3] for i in range(max(1, len(padded) - 2)))
    return grams


def clip_query(query: str) -> str:
    """``query`` cut to ``MAX_QUERY_CHARS`` characters (no title people type is longer)."""
    return query[:MAX_QUERY_CHARS]


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
    text = clip_query(query).strip()
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
    return fuzz.ratio(left, right, score_cutoff=WORD_MATCH) / 100


def _coverage(words: list[str], other: list[str], weights: Mapping[str, float]) -> float:
    """Weighted mean over ``words`` of each one's best match in ``other``; articles do not count.

    A word's weight is its rarity among titles (IDF), so "terminator" counts for more than "2".
    """
    content = [w for w in words if w not in ARTICLES] or words
    total = sum(weights.get(w, 1.0) for w in content)
    matched = sum(weights.get(w, 1.0) * max((_word_similarity(w, o) for o in other), default=0.0)
                  for w in content)
    return matched / total if total else 0.0


def _squashed_similarity(query: str, name: str) -> float:
    """Similarity of squashed names with equal numbers ("terminator2" is not "terminator")."""
    if NOT_DIGITS.sub("", query) != NOT_DIGITS.sub("", name):
        return 0.0
    return SQUASHED_WEIGHT * fuzz.ratio(query, name, score_cutoff=SQUASHED_MATCH * 100) / 100


def text_similarity(query: str, name: str, weights: Mapping[str, float] | None = None) -> float:
    """Score in [0, 1] of how well a folded query matches a folded name (1.0 = same words).

    Words are matched both ways, typos tolerated; the names compared without spaces count too,
    so "good fellas" matches "goodfellas". ``weights`` maps words to their importance.
    """
    weights = weights or {}
    squashed = max(_squashed_similarity(q, n) for q in squash(query) for n in squash(name))
    query_words, name_words = query.split(), name.split()
    query_coverage = _coverage(query_words, name_words, weights)
    if query_coverage == 0.0:
        return squashed
    name_coverage = _coverage(name_words, query_words, weights)
    shape = fuzz.ratio(query, name) / 100
    return max(squashed, query_coverage * (0.7 + 0.15 * name_coverage + 0.15 * shape))


@dataclass(frozen=True)
class Match:
    """A movie that matched a query, with its ranking score in [0, 1]."""

    movie_id: int
    title: str
    genres: str
    similarity: float


class TrigramIndex:
    """Inverted index from character trigrams to names, weighted so rare trigrams count more.

    A name's score for a query is the cosine similarity of their IDF-weighted trigram sets; it is
    summed from the postings of the query's trigrams alone, so a query never touches most names.
    Among names that score the same (many movies share a title), ``prior`` decides.
    """

    def __init__(self, names: Sequence[str], prior: Sequence[float] | None = None) -> None:
        """Index ``names`` (folded); a name's row is its position; ``prior`` is in [0, 1]."""
        name_grams = [trigrams(name) for name in names]
        counts = Counter(gram for grams in name_grams for gram in grams)
        self.columns = {gram: column for column, gram in enumerate(sorted(counts))}
        idf = np.log(len(names) / np.array([counts[g] for g in sorted(counts)], dtype=float)) + 1
        pairs = sorted((self.columns[g], row) for row, grams in enumerate(name_grams)
                       for g in grams)
        columns = np.array([column for column, _ in pairs], dtype=np.int64)
        self.rows = np.array([row for _, row in pairs], dtype=np.int32)
        norms = np.zeros(len(names))
        np.add.at(norms, self.rows, idf[columns] ** 2)
        self.weights = (idf[columns] ** 2 / np.sqrt(norms[self.rows])).astype(np.float32)
        self.indptr = np.searchsorted(columns, np.arange(len(self.columns) + 1))
        self.size = len(names)
        self.prior = TIE_BREAK * (np.zeros(self.size) if prior is None
                                  else np.asarray(prior, dtype=float))

    def top(self, text: str, limit: int, favour: np.ndarray | None = None) -> np.ndarray:
        """Rows of up to ``limit`` names sharing the most (weighted) trigrams with ``text``.

        Among names that score the same, those in the boolean mask ``favour`` come first.
        """
        columns = [c for g in trigrams(text) if (c := self.columns.get(g)) is not None]
        if not columns:
            return np.empty(0, dtype=np.int64)
        spans = [slice(self.indptr[c], self.indptr[c + 1]) for c in columns]
        rows = np.concatenate([self.rows[s] for s in spans])
        scores = np.bincount(rows, np.concatenate([self.weights[s] for s in spans]), self.size)
        keep = min(limit, np.count_nonzero(scores))
        scores += np.where(scores > 0, self.prior, 0.0)
        if favour is not None:
            scores += np.where(favour & (scores > 0), 2 * TIE_BREAK, 0.0)
        top = np.argpartition(-scores, keep - 1)[:keep]
        return top[np.argsort(-scores[top], kind="stable")]


class TitleIndex:
    """Search index over MovieLens titles; build once, query many times."""

    def __init__(self, movie_ids: Sequence[int], titles: Sequence[str], genres: Sequence[str],
                 rating_counts: Sequence[int]) -> None:
        """Index movies given as aligned sequences; ``rating_counts`` is each movie's #ratings."""
        self.movie_ids = np.asarray(movie_ids)
        self.titles = list(titles)
        self.genres = list(genres)
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
        self.grams = TrigramIndex(names, prior=self.popularity[self.owners])

    def candidates(self, text: str, year: int | None = None) -> np.ndarray:
        """Rows of the names worth scoring exactly for the folded ``text`` (and ``year``)."""
        favour = None if year is None else self.years[self.owners] == year
        return self.grams.top(text, CANDIDATES, favour)

    def search(self, query: str, limit: int = 5) -> list[Match]:
        """Return up to ``limit`` movies best matching ``query``, best first.

        Raises:
            NoMatchError: no title plausibly matches.
        """
        best: dict[int, float] = {}
        reading: dict[int, tuple[str, str]] = {}  # row -> (query text, name) of its best score
        for text, year in query_readings(query):
            for name_row in self.candidates(text, year):
                row = int(self.owners[name_row])
                score = text_similarity(text, self.names[name_row], self.word_weights)
                if year is not None and self.years[row] != year:
                    score *= YEAR_MISMATCH
                score = (1 - POPULARITY_WEIGHT) * score + POPULARITY_WEIGHT * self.popularity[row]
                if score > best.get(row, 0.0):
                    best[row] = score
                    reading[row] = (text, self.names[name_row])
        rows = sorted(best, key=lambda r: (-round(best[r], 9), -self.popularity[r], r))
        rows = [r for r in rows if best[r] > POPULARITY_WEIGHT][:limit]
        if not rows:
            raise NoMatchError(f"no movie title matches {clip_query(query)!r}")
        if doubt := _doubt(*reading[rows[0]]):
            raise NotSureError(f"not sure which movie {clip_query(query)!r} means ({doubt}); "
                               f"closest: {'; '.join(self.titles[r] for r in rows)}: give more "
                               "of the title, or --movie-id")
        return [Match(int(self.movie_ids[r]), self.titles[r], self.genres[r], float(best[r]))
                for r in rows]


def _doubt(text: str, name: str) -> str | None:
    """Why the match of the folded query ``text`` to ``name`` is too weak to act on, if it is."""
    if all(word in STOPWORDS for word in text.split()):
        return "only common words"
    wanted = NOT_DIGITS.sub(" ", text).split()
    if wanted and not set(wanted) <= set(NOT_DIGITS.sub(" ", name).split()):
        return f"no such number in {name!r}"
    return None
