"""Evaluation: metric functions against hand-computed values, a split that never leaks, and the
whole protocol on generated data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from movielens_testkit import RATINGS_CSV, FaultServer, write_movielens

from movie_recommendations import main
from movies.algorithms import ALGORITHMS, MostPopular
from movies.evaluation import (PROTOCOLS, SUMMARY, Candidate, Settings, build_queries, evaluate,
                               split_ratings)
from movies.metrics import (average_precision_at, interval, ndcg_at, precision_at, recall_at,
                            user_metrics)
from movies.recommender import RatingsIndex

RANKED = np.array([1, 2, 3, 4])
RELEVANT = np.array([2, 4, 9])


@pytest.fixture(name="timed_ratings")
def fixture_timed_ratings(generated: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """The generated ratings with distinct, shuffled timestamps."""
    _, ratings = generated
    stamps = np.random.default_rng(3).permutation(len(ratings))
    return ratings.assign(timestamp=stamps)


def test_precision_counts_hits_over_k() -> None:
    """Hits at places 2 and 4: 2 of 4 places, 2 of 10 when k = 10 (missing places are misses)."""
    assert precision_at(RANKED, RELEVANT, k=4) == 0.5
    assert precision_at(RANKED, RELEVANT, k=10) == 0.2


def test_recall_counts_hits_over_relevant() -> None:
    """2 of the 3 relevant movies found; only the first k places count."""
    assert recall_at(RANKED, RELEVANT) == pytest.approx(2 / 3)
    assert recall_at(RANKED, RELEVANT, k=2) == pytest.approx(1 / 3)


def test_ndcg_matches_the_hand_computed_value() -> None:
    """Gains 1/log2(3) + 1/log2(5) over the ideal 1 + 1/log2(3) + 1/log2(4)."""
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    assert ndcg_at(RANKED, RELEVANT) == pytest.approx(expected)


def test_average_precision_matches_the_hand_computed_value() -> None:
    """Precision 1/2 at the first hit, 2/4 at the second, over min(3 relevant, 10)."""
    assert average_precision_at(RANKED, RELEVANT) == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_a_perfect_list_scores_one_and_a_miss_zero() -> None:
    """Relevant movies first: nDCG and AP are 1; no hit at all: every metric is 0."""
    perfect = user_metrics(np.array([2, 4, 9, 1]), RELEVANT)
    assert perfect["ndcg"] == pytest.approx(1.0)
    assert perfect["map"] == pytest.approx(1.0)
    assert set(user_metrics(np.array([5, 6]), RELEVANT).values()) == {0.0}


def test_interval_is_the_student_t_interval() -> None:
    """[1, 2, 3]: mean 2, half width t(0.975, 2) x 1 / sqrt(3) = 4.3027 x 0.57735."""
    mean, half = interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert interval([0.5]) == (0.5, 0.0)


@pytest.mark.parametrize("temporal", [False, True])
def test_split_puts_every_rating_in_exactly_one_part(timed_ratings: pd.DataFrame,
                                                     temporal: bool) -> None:
    """Train and test are disjoint, together all ratings, ~20% of each user held out."""
    train, test = split_ratings(timed_ratings, seed=1, temporal=temporal)
    assert not set(train.index) & set(test.index)
    assert len(train) + len(test) == len(timed_ratings)
    counts = timed_ratings.groupby("userId").size()
    held = test.groupby("userId").size().reindex(counts.index, fill_value=0)
    assert (held == np.floor(0.2 * counts + 0.5).astype(int)).all()


def test_temporal_split_holds_out_each_users_latest(timed_ratings: pd.DataFrame) -> None:
    """Every held-out rating is newer than every training rating of the same user."""
    train, test = split_ratings(timed_ratings, seed=0, temporal=True)
    newest_train = train.groupby("userId")["timestamp"].max()
    oldest_test = test.groupby("userId")["timestamp"].min()
    assert (oldest_test > newest_train.reindex(oldest_test.index)).all()


def test_split_depends_on_the_seed_only(timed_ratings: pd.DataFrame) -> None:
    """The same seed gives the same split; another seed another one."""
    first = split_ratings(timed_ratings, seed=5)[1].index
    assert first.equals(split_ratings(timed_ratings, seed=5)[1].index)
    assert not first.equals(split_ratings(timed_ratings, seed=6)[1].index)


def test_no_held_out_rating_reaches_training(
        generated: tuple[pd.DataFrame, pd.DataFrame], timed_ratings: pd.DataFrame) -> None:
    """What an algorithm learns from (the training index) and what a query may use (its seeds,
    the movies it excludes) hold no held-out (user, movie) pair; the relevant ones are all
    held out."""
    movies, _ = generated
    movie_ids = movies["movieId"].to_numpy()
    train, test = split_ratings(timed_ratings, seed=2)
    index = RatingsIndex(train, movie_ids, 0.0)  # every training rating counts as liked
    assert index.liked_by_user.nnz == len(train)
    queries = build_queries(train, test, movie_ids, seed=2, settings=Settings())
    held = set(zip(test["userId"], test["movieId"]))
    users = np.intersect1d(train.loc[train["rating"] >= 4, "userId"].unique(),
                           test.loc[test["rating"] >= 4, "userId"].unique())
    for row, user in enumerate(users):
        for matrix in (queries.history, queries.one_seed, queries.seen):
            used = movie_ids[matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]]
            assert not {(user, int(m)) for m in used} & held
        assert {(user, int(m)) for m in movie_ids[queries.relevant[row]]} <= held


def test_evaluate_reports_every_figure_with_an_interval(
        generated: tuple[pd.DataFrame, pd.DataFrame], timed_ratings: pd.DataFrame) -> None:
    """Each candidate, protocol and figure has a [mean, half width]; most popular gives the same
    answers to both protocols (it ignores the seeds); coverage and shares lie in [0, 1]."""
    movies, _ = generated
    candidates = [Candidate("popular", MostPopular), Candidate("hybrid", ALGORITHMS["hybrid"], 5)]
    result = evaluate(candidates, movies, timed_ratings,
                      Settings(seeds=(0, 1), min_genre_users=1))
    assert len(result["users"]) == 2 and min(result["users"]) > 100
    popular = result["results"]["popular"]
    for protocol in PROTOCOLS:
        for name in SUMMARY:
            mean, half = result["results"]["hybrid"][protocol][name]
            assert 0.0 <= mean <= 1.0 and half >= 0.0
    assert popular["history"] == popular["one seed"]
    assert list(result["genres"]["hybrid"]) == ["Drama"]  # the generated movies' only genre


@pytest.fixture(name="evaluate_cli")
def fixture_evaluate_cli(generated, timed_ratings: pd.DataFrame, tmp_path: Path,
                         capsys: pytest.CaptureFixture):
    """Run ``evaluate`` in-process on the generated data (written with timestamps)."""
    movies, _ = generated
    folder = tmp_path / "data"
    folder.mkdir()
    movies.to_csv(folder / "movies.csv", index=False)
    timed_ratings.to_csv(folder / "ratings.csv", index=False)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["evaluate", "--data-dir", str(folder), "--cache-dir",
                         str(tmp_path / "cache"), "--seeds", "2", *args])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_evaluate_prints_one_row_per_algorithm_and_protocol(evaluate_cli) -> None:
    """The default table: classic, popular, itemknn and hybrid under both protocols."""
    code, out, _ = evaluate_cli()
    assert code == 0
    assert "**history**" in out and "**one seed**" in out
    for name in ("classic", "popular", "itemknn", "hybrid"):
        assert sum(line.startswith(f"| {name} |") for line in out.splitlines()) == 2
    assert "| algorithm | nDCG@10 | P@10 | R@10 | MAP@10 | coverage | popularity |" in out


def test_evaluate_json_and_plot(evaluate_cli, tmp_path: Path) -> None:
    """--format json is one document with every figure as [mean, half width]; --plot a PNG."""
    plot = tmp_path / "ndcg.png"
    code, out, _ = evaluate_cli("--algorithm", "popular", "--algorithm", "ease", "--temporal",
                                "--format", "json", "--plot", str(plot))
    result = json.loads(out)
    assert code == 0 and list(result["results"]) == ["popular", "ease"]
    assert result["settings"]["temporal"] is True and result["settings"]["seeds"] == [0, 1]
    assert len(result["results"]["ease"]["history"]["ndcg"]) == 2
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_temporal_without_timestamps_is_one_error_line(tiny_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """A ratings.csv without a timestamp column cannot be split by time: exit 1, one line."""
    (tiny_dir / "ratings.csv").write_text("userId,movieId,rating\n1,1,5.0\n", encoding="utf-8")
    code = main(["evaluate", "--data-dir", str(tiny_dir), "--cache-dir", str(tmp_path),
                 "--temporal"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1] == ("error: ratings.csv lacks column(s) timestamp; found "
                                     "['userId', 'movieId', 'rating']")


def test_too_little_data_to_evaluate_is_one_error_line(tiny_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """Four users with two or three ratings each leave nobody to evaluate: exit 1, one line."""
    code = main(["evaluate", "--data-dir", str(tiny_dir), "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("error: no user has both a liked training rating")


def test_a_damaged_download_tells_evaluate_how_to_get_it_again(
        tmp_path: Path, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """Regression: recommend said which folder to delete, evaluate did not."""
    folder = write_movielens(tmp_path / "cache" / "ml-latest-small")
    (folder / "ratings.csv").write_text(RATINGS_CSV[:-3], encoding="utf-8")
    monkeypatch.setenv("MOVIELENS_BASE_URL", fault_server.url())
    code = main(["evaluate", "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ratings.csv ends in the middle of a line")
    assert err.rstrip().endswith(f"delete {folder} to download it again")


@pytest.mark.parametrize(("plot", "words"), [("file/x.png", "{tmp}/file is a file, not a folder"),
                                             ("folder", "it is a folder")])
def test_a_plot_that_cannot_be_written_is_refused_before_the_evaluation(
        tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, plot: str,
        words: str) -> None:
    """Regression: the whole evaluation ran (3 CPU minutes on ml-latest-small), then ended in
    "cannot write .../x.png: File exists" with no table. The check comes first: the tiny data's
    own error (too few ratings to evaluate) is never reached."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    code = main(["evaluate", "--data-dir", str(tiny_dir), "--cache-dir", str(tmp_path / "c"),
                 "--plot", str(tmp_path / plot)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1] == (f"error: cannot write {tmp_path / plot}: "
                                            + words.format(tmp=tmp_path))
    assert not list((tmp_path / "folder").iterdir())
