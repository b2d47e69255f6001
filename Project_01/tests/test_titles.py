"""Unit tests for title normalization, parsing and search ranking."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from movies.cache import INDEX_CODE
from movies.titles import (
    MAX_QUERY_CHARS, NoMatchError, TitleIndex, TrigramIndex, clip_query, fold, parse_title,
    query_readings, squash, text_similarity,
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
        ("Seven (a.k.a. Se7en) (1995)", ["seven", "se 7 en"], 1995),
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


@pytest.mark.parametrize(
    ("typed", "name"),
    [("Spider-Man", "spider man"), ("spiderman", "spider man"), ("Spider Man", "spider man"),
     ("good fellas", "goodfellas"), ("Toystory", "toy story"), ("lionking", "the lion king"),
     ("X-Men", "x men")],
)
def test_compound_and_split_words_fold_and_squash_alike(typed: str, name: str) -> None:
    """Hyphens, spaces and a leading article do not matter once squashed."""
    assert set(squash(fold(typed))) & set(squash(name))


@pytest.mark.parametrize(
    ("query", "better", "worse"),
    [
        ("spiderman", "spider man", "superman"),
        ("good fellas", "goodfellas", "good will hunting"),
        ("toystory", "toy story", "toy soldiers"),
        ("terminator 2", "terminator 2 judgment day", "the terminator"),
    ],
)
def test_squashed_names_match_but_not_across_numbers(query: str, better: str, worse: str) -> None:
    """A compound matches its split form; "terminator2" is still not "terminator"."""
    assert text_similarity(query, better) > text_similarity(query, worse)


def test_trigram_index_ranks_shared_rare_trigrams_first() -> None:
    """The candidates stage finds the misspelt and the squashed name; no trigram, no candidate."""
    grams = TrigramIndex(["the matrix", "spider man", "superman", "toy story"])
    assert grams.top("matrx", 2)[0] == 0
    assert grams.top("spiderman", 2)[0] == 1
    assert grams.top("qqqq", 5).size == 0


def test_clip_query_bounds_the_length() -> None:
    """Only the first MAX_QUERY_CHARS characters of a query are searched."""
    assert clip_query("x" * 10 * MAX_QUERY_CHARS) == "x" * MAX_QUERY_CHARS
    assert clip_query("toy story") == "toy story"


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


def test_search_finds_compound_forms(index: TitleIndex) -> None:
    """Words run together or split still find the movie."""
    assert index.search("toystory")[0].movie_id == 1
    assert index.search("Toy-Story 2")[0].movie_id == 2


# The index fixture is only read, so sharing it across examples is safe.
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=4 * MAX_QUERY_CHARS)
       | st.lists(st.sampled_from(["toy", "story", "the", "matrix", "2", "-", " ", "léon"]),
                  max_size=400).map("".join))
def test_any_string_gets_a_match_or_a_clean_no_match_quickly(index: TitleIndex,
                                                             query: str) -> None:
    """Whatever is typed (unicode, punctuation, pages of text): a ranked list or NoMatchError."""
    started = time.process_time()
    try:
        matches = index.search(query)
    except NoMatchError as exc:
        assert str(exc).startswith(("no movie title matches", "not sure which movie"))
    else:
        assert 1 <= len(matches) <= 5
        scores = [match.similarity for match in matches]
        assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= 1
    assert time.process_time() - started < 0.5


def test_title_index_code_is_part_of_the_cache_key() -> None:
    """A change to the title index's code (and so its pickled format) changes the cache key."""
    modules = {TitleIndex.__module__, TrigramIndex.__module__}
    assert {f"{module.rsplit('.', 1)[-1]}.py" for module in modules} <= set(INDEX_CODE)
