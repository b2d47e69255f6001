"""Atomic writes and the cache folder's lock: whole files or none, and no waiting on a folder
that cannot hold a lock."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from movies.errors import FileWriteError, MoviesError
from movies.files import atomic_write, cache_lock, commit


def _interrupt_at_line(number: int, code: set) -> object:
    """A tracer raising KeyboardInterrupt (as Ctrl-C does) at the ``number``-th line run in
    ``code``, once."""
    seen = 0

    def tracer(frame, event, _arg):
        nonlocal seen
        if frame.f_code not in code:
            return None
        if event == "line":
            seen += 1
            if seen == number:
                raise KeyboardInterrupt
        return tracer
    return tracer


def test_ctrl_c_at_any_line_of_an_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Regression: a Ctrl-C between creating the temporary file and entering the try that
    removes it left a .part file (found by interrupting a first build on 25M ratings)."""
    target = tmp_path / "index.pkl"
    target.write_bytes(b"old")
    code = {atomic_write.__wrapped__.__code__, commit.__code__}
    for number in range(1, 100):
        sys.settrace(_interrupt_at_line(number, code))
        try:
            with atomic_write(target) as stream:
                stream.write(b"new")
            finished = True
        except KeyboardInterrupt:
            finished = False
        finally:
            sys.settrace(None)
        assert not list(tmp_path.glob(".*.part")), f"left behind when interrupted at line {number}"
        assert target.read_bytes() in ((b"new",) if finished else (b"old", b"new"))
        if finished:
            break
    else:
        pytest.fail("the write never finished")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_that_cannot_hold_the_lock_file_fails_at_once() -> None:
    """Regression: filelock took ENOENT for "locked by another run" and waited an hour."""
    with pytest.raises(MoviesError, match="cannot lock /proc/self/.movies.lock"):
        with cache_lock(Path("/proc/self"), timeout=5):
            pass


def test_an_atomic_write_below_a_file_is_a_file_write_error(tmp_path: Path) -> None:
    """The parent is a file: one FileWriteError, not the clean-up's own NotADirectoryError."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(FileWriteError, match="cannot write"):
        with atomic_write(tmp_path / "file" / "index.pkl") as stream:
            stream.write(b"x")
