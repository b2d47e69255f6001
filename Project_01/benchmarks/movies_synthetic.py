"""A seeded, MovieLens-shaped data set of any size, for benchmarks at ml-25m scale.

Users and movies scale like ml-25m (162k users and 59k movies for 25M ratings); movie popularity
follows a Zipf-like law, user activity a log-normal one, ratings the published half-star shares;
no (user, movie) pair repeats. Titles are built from a Zipf-distributed vocabulary, so common
words are shared by thousands of titles as "the", "love" or "night" are in the real ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# Share of each half-star rating 0.5 .. 5.0, close to the published ml-25m distribution.
RATING_SHARES = np.array([0.016, 0.031, 0.016, 0.068, 0.049, 0.198, 0.124, 0.266, 0.085, 0.147])


COMMON_WORDS = ("the of a and in love man night day last my life girl house dead story king "
                "american world black return red time blood little big city death war sea star "
                "lost dark secret good song moon home wild").split()


def synthetic_titles(n_movies: int, seed: int = 0) -> list[str]:
    """MovieLens-style titles: 1-5 words, Zipf-distributed (common words are shared by many
    titles, as "the", "love" or "night" are), some with a trailing article or a sequel number."""
    rng = np.random.default_rng(seed)
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
    invented = {"".join(rng.choice(syllables, rng.integers(2, 4))) for _ in range(30_000)}
    vocabulary = np.array(COMMON_WORDS + sorted(invented - set(COMMON_WORDS)), dtype=object)
    weights = 1.0 / np.arange(1, vocabulary.size + 1)
    lengths = rng.choice(np.arange(1, 6), n_movies, p=[0.2, 0.3, 0.25, 0.15, 0.1])
    words = rng.choice(vocabulary, lengths.sum(), p=weights / weights.sum())
    titles = []
    for i, title_words in enumerate(np.split(words, np.cumsum(lengths)[:-1])):
        name = " ".join(title_words).title()
        if i % 10 == 1:
            name += f" {2 + i % 3}"
        elif i % 12 == 2:
            name = f"{name}, The"
        titles.append(f"{name} ({1920 + i * 7919 % 100})")
    return titles


def generate_movielens(folder: Path, n_ratings: int, seed: int = 0) -> Path:
    """Write a MovieLens-shaped folder with ``n_ratings`` ratings and long-tailed skews.

    Users and movies scale like ml-25m (162k users and 59k movies for 25M ratings); movie
    popularity follows a Zipf-like law and user activity a log-normal one; no pair repeats.
    Each file is written once: an existing one is kept (the generator is seeded).
    """
    n_movies = max(100, round(59_047 * n_ratings / 25_000_095))
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "movies.csv").is_file():
        pd.DataFrame({"movieId": np.arange(1, n_movies + 1), "genres": "Drama",
                      "title": synthetic_titles(n_movies, seed)},
                     columns=["movieId", "title", "genres"]).to_csv(folder / "movies.csv",
                                                                    index=False)
    if not (folder / "ratings.csv").is_file():
        _write_ratings(folder / "ratings.csv", n_ratings, n_movies, seed)
    return folder


def _write_ratings(path: Path, n_ratings: int, n_movies: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # ml-25m's ratio of users to ratings; at small sizes, enough users for the pairs to be unique
    n_users = max(100, round(162_541 * n_ratings / 25_000_095), -(-2 * n_ratings // n_movies))
    movie_weight = 1.0 / np.arange(1, n_movies + 1) ** 0.9
    user_weight = rng.lognormal(0.0, 1.2, n_users)
    order = rng.permutation(n_movies)
    pairs = np.empty(0, dtype=np.int64)
    while pairs.size < n_ratings:
        draws = n_ratings - pairs.size + n_ratings // 10
        users = rng.choice(n_users, draws, p=user_weight / user_weight.sum())
        movies = order[rng.choice(n_movies, draws, p=movie_weight / movie_weight.sum())]
        pairs = np.union1d(pairs, users.astype(np.int64) * n_movies + movies)
    pairs = np.sort(rng.choice(pairs, n_ratings, replace=False))
    ratings = pd.DataFrame({
        "userId": (pairs // n_movies + 1).astype(np.int32),
        "movieId": (pairs % n_movies + 1).astype(np.int32),
        "rating": rng.choice(np.arange(1, 11) / 2, pairs.size,
                             p=RATING_SHARES / RATING_SHARES.sum()),
        "timestamp": rng.integers(800_000_000, 1_600_000_000, pairs.size),
    })
    tmp = path.with_suffix(".csv.tmp")
    ratings.to_csv(tmp, index=False)
    tmp.replace(path)


def synthetic_queries(movies: pd.DataFrame, movie_ids: list[int]) -> list[tuple[str, int]]:
    """What people type for these movies: the title in lower case, without its year unless
    another movie has the same words in its title, every other one with a typo (its longest word
    loses a letter)."""
    names = movies["title"].str.rsplit(" (", n=1).str[0].str.lower()
    shared = names.map(lambda name: " ".join(sorted(name.replace(",", "").split())))
    counts = shared.value_counts()
    queries = []
    for number, movie_id in enumerate(movie_ids):
        row = movies.index[movies["movieId"] == movie_id][0]
        words = names[row].split()
        if number % 2 and max(map(len, words)) >= 5:
            longest = int(np.argmax([len(word) for word in words]))
            words[longest] = words[longest][:2] + words[longest][3:]
        if counts[shared[row]] > 1:
            words.append(movies.at[row, "title"].rsplit(" (", 1)[1].rstrip(")"))
        queries.append((" ".join(words), movie_id))
    return queries
