"""Helpers for the reliability tests: ranged, slow and silent responders; the CLI in a real process.

Kept out of conftest.py so that test modules can import them by name."""

from __future__ import annotations

import http.server
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from podcast_testkit import PROJECT_DIR, Responder

SCRIPT = PROJECT_DIR / "podcast_pipeline.py"


def serve_file(payload: bytes, etag: str | None = '"v1"', honour_range: bool = True,
               seen: list[dict[str, str]] | None = None,
               honour_if_range: bool = True) -> Responder:
    """A responder for a static file: ETag, and Range/If-Range as RFC 9110 says (if honoured;
    a host that ignores If-Range answers any Range with 206).

    Each request's Range and If-Range headers are appended to ``seen``, when given.
    """

    def send(handler: http.server.BaseHTTPRequestHandler) -> None:
        asked, if_range = handler.headers.get("Range"), handler.headers.get("If-Range")
        if seen is not None:
            seen.append({"Range": asked, "If-Range": if_range})
        match = re.fullmatch(r"bytes=(\d+)-", asked or "")
        same = if_range in (None, etag) or not honour_if_range
        start = int(match[1]) if match and honour_range and same else 0
        status = 206 if start else 200
        if start >= len(payload) > 0:
            handler.send_response(416)
            handler.send_header("Content-Range", f"bytes */{len(payload)}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(status)
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        handler.send_header("Content-Length", str(len(payload) - start))
        if etag:
            handler.send_header("ETag", etag)
        handler.end_headers()
        try:
            handler.wfile.write(payload[start:])
        except (BrokenPipeError, ConnectionResetError):
            pass

    return send


def trickle(payload: bytes, chunk: int = 4096, interval: float = 0.05,
            etag: str = '"v1"') -> Responder:
    """A slow server: the whole file promised, then ``chunk`` bytes every ``interval`` seconds."""

    def send(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("ETag", etag)
        handler.end_headers()
        try:
            for start in range(0, len(payload), chunk):
                handler.wfile.write(payload[start:start + chunk])
                handler.wfile.flush()
                time.sleep(interval)
        except (BrokenPipeError, ConnectionResetError):
            pass

    return send


def silent(seconds: float = 60.0) -> Responder:
    """A host that accepts the connection and never answers (for ``seconds``)."""

    def send(_handler: http.server.BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)

    return send


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    """Start ``podcast_pipeline.py`` in a process of its own, with this test's environment (its
    ``PODCAST_*`` defaults point into a temporary folder: see conftest.py)."""
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    stop_by = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < stop_by, "timed out waiting"
        time.sleep(0.05)


def stop(process: subprocess.Popen, signum: int) -> tuple[int, str, float]:
    """Send ``signum``; return the exit code, stderr and the seconds it took to exit."""
    sent = time.monotonic()
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    took = time.monotonic() - sent
    return (process.returncode if signum != signal.SIGKILL else -9), err, took


ERROR_LINE = re.compile(r"^(?:[^:]+: )?error: ")  # ours, or argparse's "prog [run]: error:"


def error_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that report an error to the user (not log lines)."""
    return [line for line in stderr.splitlines() if ERROR_LINE.match(line)]


def conditional(payload: bytes, etag: str = '"feed-1"',
                last_modified: str = "Mon, 01 Jan 2024 08:00:00 GMT",
                seen: list[dict[str, str]] | None = None) -> Responder:
    """A feed that answers 304 when the request's validators match, else the whole document."""

    def send(handler: http.server.BaseHTTPRequestHandler) -> None:
        asked = {name: handler.headers.get(name)
                 for name in ("If-None-Match", "If-Modified-Since")}
        if seen is not None:
            seen.append(asked)
        unchanged = asked["If-None-Match"] == etag or (
            asked["If-None-Match"] is None and asked["If-Modified-Since"] == last_modified)
        handler.send_response(304 if unchanged else 200)
        handler.send_header("ETag", etag)
        handler.send_header("Last-Modified", last_modified)
        handler.send_header("Content-Length", "0" if unchanged else str(len(payload)))
        handler.end_headers()
        if not unchanged:
            handler.wfile.write(payload)

    return send


def assert_clean_exit(code: int | str | None, stderr: str) -> None:
    """Exit 0, 1 or 2, with exactly one error line when not 0, and no traceback."""
    assert "Traceback" not in stderr, stderr
    assert code in (0, 1, 2), (code, stderr)
    assert len(error_lines(stderr)) == (0 if code == 0 else 1), stderr
