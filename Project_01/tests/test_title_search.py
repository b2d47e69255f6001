"""Unit tests for title normalization, parsing and search ranking."""

from __future__ import annotations

import pytest

from title_search import (
    NoMatchError, TitleIndex, fold, parse_title, query_readings, text_similarity,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Léon", "leon"),
        ("  The   MATRIX!! ", "the matrix"),
        ("Schindler's List", "schindlers list"),
        ("Rocky II", "rocky 2"),
        ("Wallace & Gromit", "wallace and gromit"),
        ("Amélie", "amelie"),
    ],
)
def test_fold_normalizes_case_accents_punctuation_and_numerals(text: str, expected: str) -> None:
    """fold() gives the same string for the ways people type a title."""
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("title", "names", "year"),
    [
        ("Toy Story (1995)", ["toy story"], 1995),
        ("Matrix, The (1999)", ["the matrix"], 1999),
        ("Misérables, Les (1995)", ["les miserables"], 1995),
        ("Léon: The Professional (a.k.a. The Professional) (Léon) (1994)",
         ["leon the professional", "the professional", "leon"], 1994),
        ("Seven (a.k.a. Se7en) (1995)", ["seven", "se7en"], 1995),
        ("Babylon 5", ["babylon 5"], None),
        ("Justice League: Doom (2012) ", ["justice league doom"], 2012),
        ("Fawlty Towers (1975-1979)", ["fawlty towers"], 1975),
    ],
)
def test_parse_title_splits_names_and_year(title: str, names: list[str], year: int | None) -> None:
    """parse_title() moves trailing articles, keeps alternative titles and reads the year."""
    assert parse_title(title) == (names, year)


@pytest.mark.parametrize(
    ("query", "readings"),
    [
        ("Toy Story", [("toy story", None)]),
        ("Toy Story (1995)", [("toy story 1995", None), ("toy story", 1995)]),
        ("Avengers 1998", [("avengers 1998", None), ("avengers", 1998)]),
        ("1984", [("1984", None)]),
        ("Blade Runner 2049", [("blade runner 2049", None)]),
    ],
)
def test_query_readings_offer_a_trailing_year_as_a_hint(query: str, readings: list) -> None:
    """A trailing year is read both as title text and as a year hint; a lone year stays text."""
    assert query_readings(query) == readings


@pytest.mark.parametrize(
    ("query", "better", "worse"),
    [
        ("toy story", "toy story", "toy story 2"),
        ("terminator 2", "terminator 2 judgment day", "the terminator"),
        ("shawshank redemtion", "the shawshank redemption", "the redemption"),
        ("alien", "alien", "aliens"),
    ],
)
def test_text_similarity_prefers_the_closer_name(query: str, better: str, worse: str) -> None:
    """Exact words beat extra words, a missing sequel number costs more than a typo."""
    assert text_similarity(query, better) > text_similarity(query, worse)


def test_text_similarity_of_identical_words_is_one() -> None:
    """The same words score 1.0."""
    assert text_similarity("the matrix", "the matrix") == pytest.approx(1.0)


@pytest.fixture(name="index")
def fixture_index() -> TitleIndex:
    """A title index over a few real-looking titles; Toy Story is the most rated."""
    titles = ["Toy Story (1995)", "Toy Story 2 (1999)", "Matrix, The (1999)",
              "Avengers, The (1998)", "Avengers, The (2012)",
              "Léon: The Professional (a.k.a. The Professional) (Léon) (1994)"]
    return TitleIndex([1, 2, 3, 4, 5, 6], titles, ["Animation"] * 6, [200, 90, 250, 10, 60, 120])


@pytest.mark.parametrize(
    ("query", "movie_id"),
    [
        ("toy story", 1),
        ("Toy Story 2", 2),
        ("toy story II", 2),
        ("The Matrix", 3),
        ("matrix", 3),
        ("Avengers 1998", 4),
        ("the avengers", 5),
        ("leon", 6),
        ("Léon", 6),
        ("the professional", 6),
        ("Toy Stroy", 1),
    ],
)
def test_search_finds_the_intended_movie(index: TitleIndex, query: str, movie_id: int) -> None:
    """The first result is the movie a person means."""
    assert index.search(query)[0].movie_id == movie_id


def test_search_results_are_sorted_best_first(index: TitleIndex) -> None:
    """Similarities never increase down the list."""
    scores = [match.similarity for match in index.search("toy story", limit=5)]
    assert scores == sorted(scores, reverse=True)
    assert len(scores) >= 2


def test_search_without_a_plausible_match_raises(index: TitleIndex) -> None:
    """Gibberish is an error, not a random movie."""
    with pytest.raises(NoMatchError, match="qwxyz"):
        index.search("qwxyz")
