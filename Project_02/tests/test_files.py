"""Files that are whole or absent: atomic writes, one run at a time, clean-up after a killed run."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from pathlib import Path

import pytest

from podcasts.errors import FileWriteError, LockTimeout
from podcasts.files import atomic_write, file_lock, partials_of, remove_stale_partials
from podcasts.signals import Interrupted, handle_signals


def test_interrupted_write_keeps_the_old_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C at the rename: the old file is untouched and the temporary file is gone."""
    target = tmp_path / "episode.vtt"
    with atomic_write(target) as stream:
        stream.write(b"WEBVTT\n")

    def interrupt(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as stream:
        stream.write(b"WEBVTT\n\nnew")
    assert target.read_text() == "WEBVTT\n"
    assert [p.name for p in tmp_path.iterdir()] == ["episode.vtt"]



def test_only_stale_temporaries_are_removed(tmp_path: Path) -> None:
    """A temporary .vtt left by kill -9 an hour ago goes; one being written now stays."""
    old, fresh = tmp_path / ".a.vtt.x1.part", tmp_path / ".b.vtt.x2.part"
    for path in (old, fresh, tmp_path / "a.vtt", tmp_path / ".a.mp3.x3.part"):
        path.write_text("")
    os.utime(old, (0, 0))
    assert remove_stale_partials(tmp_path, 600, pattern=".*.vtt.*.part") == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.mp3.x3.part", ".b.vtt.x2.part",
                                                          "a.vtt"]



def test_a_temporary_renamed_by_its_writer_meanwhile_is_no_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another run (an Airflow task) renames its temporary .vtt between the listing and the
    look at its age: not an error, and the stale one is still removed."""
    old = tmp_path / ".a.vtt.x1.part"
    old.write_text("")
    os.utime(old, (0, 0))
    gone = tmp_path / ".b.vtt.x2.part"
    monkeypatch.setattr(Path, "glob", lambda self, pattern: iter([gone, old]))
    assert remove_stale_partials(tmp_path, 600) == [old]
    assert not old.exists()



def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    """A folder that cannot be written: FileWriteError naming the target; nothing replaced."""
    target = tmp_path / "episode.vtt"
    target.write_bytes(b"old")
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(tmp_path, os.W_OK):
            pytest.skip("running as root: a read-only folder is still writable")
        with pytest.raises(FileWriteError, match=f"cannot write {target}"), \
                atomic_write(target) as stream:
            stream.write(b"new")
    finally:
        tmp_path.chmod(0o755)
    assert target.read_bytes() == b"old"


def test_a_busy_lock_times_out_naming_its_file(tmp_path: Path) -> None:
    """A second holder waits ``timeout`` seconds, then LockTimeout says which lock."""
    lock = tmp_path / "x.lock"
    with file_lock(lock, timeout=1):
        with pytest.raises(LockTimeout, match=f"another run held {lock} for 0.1 s"):
            with file_lock(lock, timeout=0.1):
                pass
    with file_lock(lock, timeout=0):  # released: free again at once
        pass


def test_partials_of_a_target_newest_first(tmp_path: Path) -> None:
    """Only the target's own temporary files, most recently written first."""
    target = tmp_path / "a.mp3"
    older, newer = tmp_path / ".a.mp3.1.part", tmp_path / ".a.mp3.2.part"
    for path in (older, newer, tmp_path / ".b.mp3.3.part", tmp_path / "a.mp3"):
        path.write_bytes(b"")
    os.utime(older, (0, 0))
    assert partials_of(target) == [newer, older]


def test_ctrl_c_while_waiting_for_another_runs_lock_stops_at_once(tmp_path: Path) -> None:
    """The wait for a lock another run holds is Python's own polling: SIGINT ends it at once."""
    lock = tmp_path / "x.lock"
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    with file_lock(lock, timeout=1), pytest.raises(Interrupted), handle_signals():
        timer.start()
        with file_lock(lock, timeout=30):
            pass
    assert time.monotonic() - started < 1.5
