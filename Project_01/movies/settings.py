"""What a run can be asked for, with every default in one place; the command line reads them.

``DataSettings`` says which ratings to index and how (the index is built once per data set and
threshold, then cached); ``MovieQuery`` says what a person asks of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
DATASETS = ("ml-latest-small", "ml-25m", "ml-32m")


@dataclass(frozen=True)
class DataSettings:
    """Where the ratings come from, where the cache lives, and what counts as "liked"."""

    dataset: str = DATASETS[0]
    data_dir: Path | None = None  # an extracted MovieLens folder: nothing is downloaded
    cache_dir: Path = PROJECT_DIR / "data"
    like_threshold: float = 4.0  # a rating above this counts as "liked" (see algorithm_threshold)


@dataclass(frozen=True)
class MovieQuery:
    """What a person asks: the movies they liked and how to shape the answer."""

    titles: tuple[str, ...] = ()
    movie_ids: tuple[int, ...] = ()
    top_n: int = 10
    min_share: float = 0.10  # keep movies liked by more than this share of similar users
    min_users: int = 5  # fewer similar users: recommend the most liked of the seeds' genres
    genres: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    exclude_ids: tuple[int, ...] = ()  # movies already seen: never recommended
    algorithm: str = "hybrid"  # a name in algorithms.ALGORITHMS


@dataclass(frozen=True)
class EvaluationSettings:
    """How ``evaluate`` measures: the protocol's knobs and the algorithms side by side."""

    algorithms: tuple[str, ...] = ("classic", "popular", "itemknn", "hybrid")
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    test_share: float = 0.2
    temporal: bool = False
    liked_from: float = 4.0  # a rating this high marks a liked movie: seeds and relevant ones
    like_threshold: float | None = None  # what each algorithm learns from; None: its own
    min_genre_users: int = 20  # genres with fewer evaluated users are left out
    min_users: int = MovieQuery.min_users  # the default algorithm's rule, as it answers
