"""The index cache: reused when current, rebuilt when the data, the settings or the code change,
and never a crash when a cache file is damaged or cannot be written."""

from __future__ import annotations

import errno
import json
import os
import pickle
import threading
import time
from pathlib import Path

import pytest
from movielens_testkit import RATINGS_CSV

from movies import cache as cache_module
from movies import data as data_module
from movies.algorithms import Hybrid
from movies.cache import cache_path, load_or_build_index, remembered_checksum
from movies.checksummed import HEADER, read_checksummed, write_checksummed
from movies.errors import DataError, MoviesError
from movies.files import LOCK_NAME
from movies.index import MovieIndex
from movies.query import answer
from movies.settings import MovieQuery


def _index_files(cache: Path) -> list[str]:
    """Cache files besides the checksum memo and the lock: index, title index, partial writes."""
    return sorted(p.name for p in cache.iterdir()
                  if not p.name.startswith("checksum-") and p.name != LOCK_NAME)


@pytest.fixture(name="builds")
def fixture_builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every time the CSVs are actually loaded to build an index."""
    calls: list[Path] = []
    real = data_module.load_movielens

    def counting(folder: Path):
        calls.append(folder)
        return real(folder)

    monkeypatch.setattr(data_module, "load_movielens", counting)
    return calls


def test_second_load_comes_from_the_cache(tiny_dir: Path, tmp_path: Path, builds: list) -> None:
    """The CSVs are read once; the second call unpickles the cached index."""
    first = load_or_build_index(tiny_dir, tmp_path / "cache", 4.0)
    second = load_or_build_index(tiny_dir, tmp_path / "cache", 4.0)
    assert len(builds) == 1
    assert second.ratings.recommend(1) == first.ratings.recommend(1)


def test_changed_ratings_invalidate_the_cache(tiny_dir: Path, tmp_path: Path, builds: list) -> None:
    """New data gets a new key: the stale index is neither served nor kept."""
    cache = tmp_path / "cache"
    before = load_or_build_index(tiny_dir, cache, 4.0)
    (tiny_dir / "ratings.csv").write_text(RATINGS_CSV + "3,1,5.0,1\n", encoding="utf-8")
    after = load_or_build_index(tiny_dir, cache, 4.0)
    assert len(builds) == 2
    assert after.ratings.recommend(1) != before.ratings.recommend(1)
    current = cache_path(tiny_dir, cache, 4.0).name
    assert _index_files(cache) == [current, current.replace("index-", "titles-")]


def test_threshold_is_part_of_the_key(tiny_dir: Path, tmp_path: Path) -> None:
    """An index built for another 'liked' threshold is a different cache file."""
    assert cache_path(tiny_dir, tmp_path, 4.0) != cache_path(tiny_dir, tmp_path, 3.5)


def test_thresholds_that_round_alike_are_different_keys(tiny_dir: Path, tmp_path: Path) -> None:
    """4.4999999 counts a 4.5 rating as liked and 4.5 does not: they must not share an index."""
    assert cache_path(tiny_dir, tmp_path, 4.4999999) != cache_path(tiny_dir, tmp_path, 4.5)
    low, high = (load_or_build_index(tiny_dir, tmp_path, t) for t in (4.4999999, 4.5))
    assert low.ratings.like_threshold == 4.4999999 and high.ratings.like_threshold == 4.5


def test_corrupted_cache_is_rebuilt(tiny_dir: Path, tmp_path: Path, builds: list) -> None:
    """A truncated cache file is ignored and replaced, not a crash."""
    cache = tmp_path / "cache"
    load_or_build_index(tiny_dir, cache, 4.0)
    path = cache_path(tiny_dir, cache, 4.0)
    path.write_bytes(path.read_bytes()[:50])
    assert load_or_build_index(tiny_dir, cache, 4.0).ratings.recommend(1)
    assert len(builds) == 2


def test_failed_build_leaves_no_cache_file(tiny_dir: Path, tmp_path: Path) -> None:
    """Bad data stops before anything is written."""
    (tiny_dir / "ratings.csv").write_text("userId,movieId,rating\n1,1,bad\n", encoding="utf-8")
    cache = tmp_path / "cache"
    with pytest.raises(DataError):
        load_or_build_index(tiny_dir, cache, 4.0)
    assert not cache.exists() or _index_files(cache) == []


def test_interrupted_write_leaves_no_partial_file(tiny_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """If pickling dies halfway, neither the cache nor a temporary file remains."""
    def explode(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module.pickle, "dump", explode)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        load_or_build_index(tiny_dir, cache, 4.0)
    assert _index_files(cache) == []


def test_changed_code_invalidates_the_cache(tiny_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An index pickled by other code is never loaded: the code's fingerprint is in the key."""
    before = cache_path(tiny_dir, tmp_path, 4.0)
    monkeypatch.setattr(cache_module, "code_fingerprint", lambda: "0000")
    assert cache_path(tiny_dir, tmp_path, 4.0) != before


def test_checksum_is_recomputed_only_when_a_file_changes(tiny_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The remembered checksum saves re-reading the CSVs, and is never stale."""
    calls = []
    real = cache_module.data_checksum
    monkeypatch.setattr(cache_module, "data_checksum", lambda d: calls.append(d) or real(d))
    first = remembered_checksum(tiny_dir, tmp_path)
    assert remembered_checksum(tiny_dir, tmp_path) == first and len(calls) == 1
    (tiny_dir / "ratings.csv").write_text(RATINGS_CSV + "3,1,5.0,1\n", encoding="utf-8")
    assert remembered_checksum(tiny_dir, tmp_path) != first and len(calls) == 2


def test_title_index_is_loaded_only_when_searched(tiny_dir: Path, tmp_path: Path) -> None:
    """A cached start leaves the title index on disk until a title is searched."""
    load_or_build_index(tiny_dir, tmp_path, 4.0)
    cached = load_or_build_index(tiny_dir, tmp_path, 4.0)
    assert cached._titles is None  # pylint: disable=protected-access  # the laziness under test
    assert cached.titles.search("toy story")[0].movie_id == 1


def test_lost_title_index_is_rebuilt_from_the_cached_data(tiny_dir: Path, tmp_path: Path) -> None:
    """Deleting the title cache file costs a rebuild, not an error."""
    load_or_build_index(tiny_dir, tmp_path, 4.0)
    for titles in tmp_path.glob("titles-*.pkl"):
        titles.unlink()
    assert load_or_build_index(tiny_dir, tmp_path, 4.0).titles.search("matrix")[0].movie_id == 2
    assert len(list(tmp_path.glob("titles-*.pkl"))) == 1


@pytest.mark.parametrize("checksum", ["../../../outside", "/tmp/outside", "0" * 31 + "/", 42, None])
def test_a_crafted_checksum_memo_cannot_reach_outside_the_cache(tiny_dir: Path, tmp_path: Path,
                                                                checksum: object) -> None:
    """The memo only saves work: a checksum that is not 32 hex digits is recomputed, not used."""
    cache = tmp_path / "deep" / "cache"
    load_or_build_index(tiny_dir, cache, 4.0)
    memo = next(cache.glob("checksum-*.memo"))
    remembered = read_checksummed(memo, json.load)
    crafted = json.dumps({**remembered, "checksum": checksum}).encode("utf-8")
    write_checksummed(memo, lambda stream: stream.write(crafted))
    before = sorted(tmp_path.rglob("*"))
    index = load_or_build_index(tiny_dir, cache, 4.0)
    assert index.ratings.recommend(1)
    assert cache_path(tiny_dir, cache, 4.0).parent == cache
    assert sorted(tmp_path.rglob("*")) == before  # nothing new, inside the cache or outside it
    assert read_checksummed(memo, json.load)["checksum"] == remembered["checksum"]


def test_files_left_by_a_killed_run_are_removed(tiny_dir: Path, tmp_path: Path) -> None:
    """Temporary files and folders of a dead writer go on the next run that takes the lock."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".index-tiny-abc.pkl.x1.part").write_bytes(b"half a pickle")
    (cache / ".ml-latest-small.y2.part").mkdir()
    (cache / ".ml-latest-small.y2.part" / "ratings.csv").write_text("userId\n", encoding="utf-8")
    load_or_build_index(tiny_dir, cache, 4.0)
    assert not list(cache.glob(".*.part"))
    assert len(_index_files(cache)) == 2


def test_a_full_disk_costs_the_cache_not_the_answer(tiny_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """No space for the index: a warning, an answer, and no partial file."""
    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_module.pickle, "dump", disk_full)
    cache = tmp_path / "cache"
    assert load_or_build_index(tiny_dir, cache, 4.0).ratings.recommend(1)
    assert "Index not cached" in caplog.text and "No space left on device" in caplog.text
    assert _index_files(cache) == []


@pytest.mark.parametrize("payload", [("movies", "ratings"), ["a list"], 42, ({}, {})])
def test_a_cache_file_holding_something_else_is_rebuilt(tiny_dir: Path, tmp_path: Path,
                                                       builds: list, payload: object) -> None:
    """A well-formed pickle of the wrong objects is ignored like a damaged one."""
    load_or_build_index(tiny_dir, tmp_path, 4.0)
    for path in (cache_path(tiny_dir, tmp_path, 4.0), *tmp_path.glob("titles-*.pkl")):
        path.write_bytes(pickle.dumps(payload))
    index = load_or_build_index(tiny_dir, tmp_path, 4.0)
    assert index.ratings.recommend(1) and index.titles.search("matrix")[0].movie_id == 2
    assert len(builds) == 2


def _answer(index: MovieIndex) -> dict:
    """An answer that reads every part of the index: titles, ratings, facets, metadata."""
    return answer(index, MovieQuery(titles=("toy story",), genres=("Action",), min_users=0))


def _flip_positions(size: int) -> list[int]:
    """Every byte of the header and of the payload's first and last 64, and 40 in between."""
    ends = range(min(size, HEADER.size + 64)), range(max(0, size - 64), size)
    spread = range(0, size, max(1, size // 40))
    return sorted({*ends[0], *ends[1], *spread})


@pytest.mark.parametrize("kind", ["index-", "titles-", "checksum-"])
def test_any_flipped_byte_of_a_cache_file_is_detected_and_rebuilt(
        tiny_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str) -> None:
    """A byte flipped by a bad disk anywhere in a cache file (header, pickle, memo): a warning
    and a rebuild, and the same answer; never a silently different one or a traceback."""
    cache = tmp_path / "cache"
    expected = _answer(load_or_build_index(tiny_dir, cache, 4.0))
    path = next(cache.glob(f"{kind}*"))
    original = path.read_bytes()
    for position in _flip_positions(len(original)):
        damaged = bytearray(original)
        damaged[position] ^= 0xFF
        path.write_bytes(damaged)
        caplog.clear()
        assert _answer(load_or_build_index(tiny_dir, cache, 4.0)) == expected, position
        assert caplog.text.count("damaged") == 1, position  # one warning, not one per look
        assert read_checksummed(next(cache.glob(f"{kind}*")), lambda stream: stream.read())


@pytest.fixture(name="read_only")
def fixture_read_only(monkeypatch: pytest.MonkeyPatch):
    """Make a cache folder behave as on a read-only mount: not writable, its lock unobtainable.

    (Tests run as root here, for whom file modes do not stop a write.)"""
    def make_read_only(cache: Path) -> None:
        real_access = os.access

        def access(path, mode, **kwargs) -> bool:
            if Path(path) == cache and mode & os.W_OK:
                return False
            return real_access(path, mode, **kwargs)

        def no_lock(*_args, **_kwargs):
            raise MoviesError(f"cannot lock {cache / LOCK_NAME}: Read-only file system")

        monkeypatch.setattr(os, "access", access)
        monkeypatch.setattr(cache_module, "cache_lock", no_lock)
    return make_read_only


def test_a_read_only_cache_folder_holding_a_current_index_answers(
        tiny_dir: Path, tmp_path: Path, read_only) -> None:
    """The memo no longer vouches for the CSVs (touched, copied): the checksum is recomputed
    without writing it down, and the cached index answers; nothing in the folder changes."""
    cache = tmp_path / "cache"
    expected = _answer(load_or_build_index(tiny_dir, cache, 4.0))
    os.utime(tiny_dir / "ratings.csv")  # same bytes, new mtime: the memo's stats are stale
    before = {path.name: path.read_bytes() for path in cache.iterdir()}
    read_only(cache)
    assert _answer(load_or_build_index(tiny_dir, cache, 4.0)) == expected
    assert {path.name: path.read_bytes() for path in cache.iterdir()} == before


def test_a_read_only_cache_folder_without_an_index_answers_from_memory(
        tiny_dir: Path, tmp_path: Path, read_only, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing usable in a folder that cannot be written: built in memory, with a warning."""
    expected = _answer(load_or_build_index(tiny_dir, tmp_path / "elsewhere", 4.0))
    cache = tmp_path / "cache"
    cache.mkdir()
    read_only(cache)
    assert _answer(load_or_build_index(tiny_dir, cache, 4.0)) == expected
    assert "building the index in memory" in caplog.text and not list(cache.iterdir())


@pytest.mark.parametrize("damage", ["flip", "truncate", "other"])
def test_a_damaged_cached_model_is_fitted_again(tiny_dir: Path, tmp_path: Path, damage: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """The default algorithm's fitted model is checked like the index: one flipped byte, a cut
    file or another cache file under its name is fitted again, the same answer given and cached."""
    cache = tmp_path / "cache"
    query = MovieQuery(movie_ids=(1,))
    expected = answer(load_or_build_index(tiny_dir, cache, 3.5), query)
    model = next(cache.glob("model-*-hybrid.pkl"))
    payload = bytearray(model.read_bytes())
    if damage == "flip":
        payload[-20] ^= 0x01
    model.write_bytes(payload[:len(payload) // 2] if damage == "truncate" else
                      cache_path(tiny_dir, cache, 3.5).read_bytes() if damage == "other" else
                      bytes(payload))
    assert answer(load_or_build_index(tiny_dir, cache, 3.5), query) == expected
    assert "Fitting hybrid again" in caplog.text
    caplog.clear()
    assert answer(load_or_build_index(tiny_dir, cache, 3.5), query) == expected
    assert "Fitting hybrid again" not in caplog.text  # the fitted model was cached again


def test_runs_started_together_fit_the_model_once(tiny_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs that need the default model at once: one fits it (minutes at 25M ratings), the
    other waits for the cache folder's lock and loads that model; the same answer."""
    cache = tmp_path / "cache"
    load_or_build_index(tiny_dir, cache, 3.5)  # the index is cached, the model not yet
    fits = []
    real_fit = Hybrid.fit

    def slow_fit(self: Hybrid, ratings):
        fits.append(threading.get_ident())
        time.sleep(0.5)
        return real_fit(self, ratings)

    monkeypatch.setattr(Hybrid, "fit", slow_fit)
    answers: list[dict] = []

    def run() -> None:
        index = load_or_build_index(tiny_dir, cache, 3.5)
        answers.append(answer(index, MovieQuery(movie_ids=(1,))))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fits) == 1
    assert len(answers) == 2 and answers[0] == answers[1]
