"""Downloads against a loopback server that misbehaves: after each fault, no partial file, a
consistent database, and a rerun that completes."""

from __future__ import annotations

import gzip
import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from podcast_reliability_kit import serve_file, wait_for
from podcast_testkit import MP3, FaultServer, drop_mid_body, only, respond, store

from podcasts.downloader import download_episodes, safe_path, tally
from podcasts.errors import DownloadError
from podcasts.feed import Episode
from podcasts.http_client import make_session
from podcasts.storage import create_table, load_episodes
from podcasts.transfer import Cancellation, DownloadSettings, Transfer, fetch_to_file

FAST = DownloadSettings(workers=2, timeout=(2.0, 0.5), attempts=2, backoff=0.0, http_retries=2)


def _rows(db_path: Path) -> dict[str, tuple]:
    with sqlite3.connect(db_path) as db:
        return {link: (size, sha) for link, size, sha in
                db.execute("SELECT link, size_bytes, sha256 FROM episodes")}


def _assert_consistent(db_path: Path, episodes_dir: Path) -> None:
    """No temporary file; every recorded download exists with its recorded size, and vice versa."""
    assert not list(episodes_dir.glob("*.part")) and not list(episodes_dir.glob(".*.part"))
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT filename, size_bytes, downloaded_at FROM episodes").fetchall()
    for filename, size, downloaded_at in rows:
        path = episodes_dir / filename
        assert path.is_file() == (downloaded_at is not None)
        if downloaded_at:
            assert path.stat().st_size == size == len(MP3)


FAULTS = {
    "500 then success": [respond(b"oops", status=500), respond(MP3)],
    "429 with Retry-After": [respond(b"slow down", status=429, headers={"Retry-After": "1"}),
                             respond(MP3)],
    "connection dropped mid-body": [drop_mid_body(MP3), respond(MP3)],
    "body shorter than Content-Length": [respond(MP3[:1000], length=len(MP3)), respond(MP3)],
    "very slow response": [respond(MP3, pause=1.5), respond(MP3)],
}


@pytest.mark.parametrize("fault", FAULTS)
def test_transient_fault_is_retried_and_completes(fault: str, server: FaultServer, db_path: Path,
                                                  episodes_dir: Path) -> None:
    """Each transient fault is retried; the episode ends up complete and recorded."""
    server.routes["/a.mp3"] = list(FAULTS[fault])
    store(db_path, server, ["/a.mp3"])
    result = only(download_episodes(db_path, episodes_dir, settings=FAST))
    assert result.status == "downloaded", result.error
    assert server.hits["/a.mp3"] >= 2
    _assert_consistent(db_path, episodes_dir)


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "429 with Retry-After"])
def test_persistent_fault_fails_cleanly_and_rerun_resumes(fault: str, server: FaultServer,
                                                          db_path: Path,
                                                          episodes_dir: Path) -> None:
    """When retries run out: failed, nothing partial, the others kept; a rerun completes."""
    server.routes["/bad.mp3"] = [FAULTS[fault][0]]
    server.routes["/good.mp3"] = [respond(MP3)]
    store(db_path, server, ["/bad.mp3", "/good.mp3"])
    results = {r.link: r for r in download_episodes(db_path, episodes_dir, settings=FAST)}
    assert results["https://example.org/ep/0"].status == "failed"
    assert results["https://example.org/ep/1"].status == "downloaded"
    _assert_consistent(db_path, episodes_dir)

    server.routes["/bad.mp3"] = [respond(MP3)]
    rerun = {r.link: r.status for r in download_episodes(db_path, episodes_dir, settings=FAST)}
    assert rerun == {"https://example.org/ep/0": "downloaded",
                     "https://example.org/ep/1": "skipped"}
    _assert_consistent(db_path, episodes_dir)


def test_404_is_not_retried(server: FaultServer, db_path: Path, episodes_dir: Path) -> None:
    """A missing file fails at once."""
    store(db_path, server, ["/missing.mp3"])
    result = only(download_episodes(db_path, episodes_dir, settings=FAST))
    assert result.status == "failed" and "404" in result.error
    assert server.hits["/missing.mp3"] == 1


def test_size_limit(server: FaultServer, db_path: Path, episodes_dir: Path) -> None:
    """A file over the limit is refused and not kept."""
    server.routes["/big.mp3"] = [respond(MP3)]
    store(db_path, server, ["/big.mp3"])
    settings = DownloadSettings(attempts=1, max_bytes=len(MP3) - 1)
    result = only(download_episodes(db_path, episodes_dir, settings=settings))
    assert result.status == "failed" and "limit" in result.error
    _assert_consistent(db_path, episodes_dir)


def test_enclosure_url_cannot_escape_the_episodes_folder(server: FaultServer, db_path: Path,
                                                         episodes_dir: Path,
                                                         tmp_path: Path) -> None:
    """A URL full of ../ still lands inside the episodes folder, under its derived name."""
    server.routes["/../../escape.mp3"] = [respond(MP3)]
    server.routes["/escape.mp3"] = [respond(MP3)]
    store(db_path, server, ["/../../escape.mp3"])
    result = only(download_episodes(db_path, episodes_dir, settings=FAST))
    assert result.status == "downloaded"
    assert [p.name for p in episodes_dir.iterdir()] == ["episode-0.mp3"]
    assert not (tmp_path.parent / "escape.mp3").exists()


@pytest.mark.parametrize("name", ["../x.mp3", "/etc/x.mp3", "a/b.mp3", ".hidden", ""])
def test_safe_path_refuses_names_that_leave_the_folder(tmp_path: Path, name: str) -> None:
    """Defence in depth for file names read back from the database."""
    with pytest.raises(DownloadError, match="unsafe"):
        safe_path(tmp_path, name)


def test_complete_file_without_a_record_is_recorded_not_fetched(server: FaultServer,
                                                                db_path: Path,
                                                                episodes_dir: Path) -> None:
    """A crash between rename and DB update: the next run records the file without a request."""
    store(db_path, server, ["/a.mp3"])
    episodes_dir.mkdir()
    (episodes_dir / "episode-0.mp3").write_bytes(MP3)
    result = only(download_episodes(db_path, episodes_dir, settings=FAST))
    assert result.status == "skipped" and "/a.mp3" not in server.hits
    assert _rows(db_path)["https://example.org/ep/0"][0] == len(MP3)


def test_limit_downloads_only_the_newest(server: FaultServer, db_path: Path,
                                         episodes_dir: Path) -> None:
    """--max-episodes 2 downloads the two newest of three."""
    for n in range(3):
        server.routes[f"/{n}.mp3"] = [respond(MP3)]
    store(db_path, server, ["/0.mp3", "/1.mp3", "/2.mp3"])
    results = download_episodes(db_path, episodes_dir, limit=2, settings=FAST)
    assert sorted(r.link for r in results) == ["https://example.org/ep/1",
                                               "https://example.org/ep/2"]


def _partial_of(episodes_dir: Path, data: bytes, name: str = "episode-0.mp3") -> Path:
    """A temporary file a dead run left: the first bytes of ``data``."""
    episodes_dir.mkdir(exist_ok=True)
    partial = episodes_dir / f".{name}.x1y2z3.part"
    partial.write_bytes(data)
    return partial


def _remember_validator(db_path: Path, validator: str, size: int | None = None) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE episodes SET resume_validator = ?, resume_size = ?", (validator, size))


def test_interrupted_download_resumes_with_range_and_if_range(server: FaultServer, db_path: Path,
                                                              episodes_dir: Path) -> None:
    """A partial file and its validator: only the rest is asked for, and the file is whole."""
    seen: list[dict] = []
    server.routes["/a.mp3"] = [serve_file(MP3, seen=seen)]
    store(db_path, server, ["/a.mp3"])
    _partial_of(episodes_dir, MP3[:4000])
    _remember_validator(db_path, '"v1"')
    result = only(download_episodes(db_path, episodes_dir, settings=FAST))
    assert seen == [{"Range": "bytes=4000-", "If-Range": '"v1"'}]
    assert result.status == "downloaded" and result.sha256 == hashlib.sha256(MP3).hexdigest()
    assert (episodes_dir / "episode-0.mp3").read_bytes() == MP3
    _assert_consistent(db_path, episodes_dir)


@pytest.mark.parametrize("responder", [serve_file(MP3, honour_range=False),
                                       serve_file(MP3, etag='"v2"')],
                         ids=["server ignores Range", "file changed on the server"])
def test_a_200_answer_to_a_range_request_starts_over(responder, server: FaultServer,
                                                     db_path: Path, episodes_dir: Path) -> None:
    """No 206: the partial bytes are dropped and the whole file is downloaded afresh."""
    server.routes["/a.mp3"] = [responder]
    store(db_path, server, ["/a.mp3"])
    _partial_of(episodes_dir, b"X" * 4000)  # would corrupt the file if appended to
    _remember_validator(db_path, '"v1"')
    assert only(download_episodes(db_path, episodes_dir, settings=FAST)).status == "downloaded"
    assert (episodes_dir / "episode-0.mp3").read_bytes() == MP3
    _assert_consistent(db_path, episodes_dir)


def test_a_dropped_connection_is_resumed_within_the_run(server: FaultServer, db_path: Path,
                                                        episodes_dir: Path) -> None:
    """The retry after a reset asks only for what was not written yet."""
    big = bytes(range(256)) * 800  # 200 KiB: several chunks are written before the drop
    seen: list[dict] = []

    def drop_mid_body_with_etag(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(big)))
        handler.send_header("ETag", '"v1"')
        handler.end_headers()
        handler.wfile.write(big[:150_000])
        handler.wfile.flush()
        handler.close_connection = True

    server.routes["/a.mp3"] = [drop_mid_body_with_etag, serve_file(big, seen=seen)]
    store(db_path, server, ["/a.mp3"])
    assert only(download_episodes(db_path, episodes_dir, settings=FAST)).status == "downloaded"
    offset = int(only(seen)["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < offset <= 150_000 and only(seen)["If-Range"] == '"v1"'
    assert (episodes_dir / "episode-0.mp3").read_bytes() == big


def test_partial_without_a_validator_is_not_trusted(server: FaultServer, db_path: Path,
                                                    episodes_dir: Path) -> None:
    """No stored validator: no Range request, and the stale temporary file is removed."""
    seen: list[dict] = []
    server.routes["/a.mp3"] = [serve_file(MP3, seen=seen)]
    store(db_path, server, ["/a.mp3"])
    stale = _partial_of(episodes_dir, b"X" * 4000)
    assert only(download_episodes(db_path, episodes_dir, settings=FAST)).status == "downloaded"
    assert seen == [{"Range": None, "If-Range": None}] and not stale.exists()
    assert (episodes_dir / "episode-0.mp3").read_bytes() == MP3


def test_stale_temporaries_of_other_files_are_removed(server: FaultServer, db_path: Path,
                                                      episodes_dir: Path) -> None:
    """Temporary files left for no episode in scope do not accumulate: once an hour old they go;
    a fresh one may be another database's download in progress, and stays."""
    server.routes["/a.mp3"] = [respond(MP3)]
    store(db_path, server, ["/a.mp3"])
    stale = _partial_of(episodes_dir, b"junk", name="gone.mp3")
    os.utime(stale, (time.time() - 3700, time.time() - 3700))
    active = _partial_of(episodes_dir, b"growing", name="other-feed.mp3")
    keep = episodes_dir / "notes.txt"
    keep.write_text("mine")
    download_episodes(db_path, episodes_dir, settings=FAST)
    assert not stale.exists() and active.exists() and keep.read_text() == "mine"


@pytest.mark.parametrize("damage", [b"", MP3[:-1], MP3[:-1] + b"!", b"<html>captive</html>"],
                         ids=["empty", "truncated", "one byte changed", "html"])
def test_recorded_file_that_no_longer_matches_is_downloaded_again(
        damage: bytes, server: FaultServer, db_path: Path, episodes_dir: Path) -> None:
    """Every run checks size and sha256 of recorded files; a mismatch is repaired."""
    server.routes["/a.mp3"] = [respond(MP3)]
    store(db_path, server, ["/a.mp3"])
    assert only(download_episodes(db_path, episodes_dir, settings=FAST)).status == "downloaded"
    (episodes_dir / "episode-0.mp3").write_bytes(damage)
    assert only(download_episodes(db_path, episodes_dir, settings=FAST)).status == "downloaded"
    assert (episodes_dir / "episode-0.mp3").read_bytes() == MP3
    assert server.hits["/a.mp3"] == 2
    assert only(download_episodes(db_path, episodes_dir, settings=FAST)).status == "skipped"


@pytest.mark.parametrize(("url", "reason"), [
    ("", "blank URL"), ("   ", "blank URL"), ("ftp://h/a.mp3", "not http(s)"),
    ("file:///etc/passwd", "not http(s)"), ("http://", "no host")])
def test_unusable_enclosure_is_unavailable_with_its_reason_not_retried(
        url: str, reason: str, db_path: Path, episodes_dir: Path) -> None:
    """Such a row (from an older database, say) is reported with why, never failed or fetched."""
    create_table(db_path)
    load_episodes(db_path, [Episode("https://e/1", "One", "one.mp3", None, None, url)])
    result = only(download_episodes(db_path, episodes_dir, settings=FAST))
    assert (result.status, reason in result.error) == ("unavailable", True)
    assert tally([result])["unavailable"] == [{"link": "https://e/1", "reason": result.error}]


def test_an_html_page_instead_of_audio_is_refused(server: FaultServer, db_path: Path,
                                                  episodes_dir: Path) -> None:
    """A captive portal answers 200 with HTML: a failure that says so, and no audio file."""
    server.routes["/a.mp3"] = [respond(b"<html>log in first</html>",
                                       headers={"Content-Type": "text/html; charset=utf-8"})]
    store(db_path, server, ["/a.mp3"])
    result = only(download_episodes(db_path, episodes_dir, settings=FAST))
    assert result.status == "failed" and "HTML page" in result.error
    _assert_consistent(db_path, episodes_dir)


def test_cancel_wakes_a_download_stalled_in_a_read(server: FaultServer, tmp_path: Path) -> None:
    """Ctrl-C must not wait out a 30 s read timeout: cancel() shuts the socket being read."""
    server.routes["/a.mp3"] = [respond(MP3, pause=10)]  # headers, then silence
    cancel, transfer, errors = Cancellation(), Transfer(tmp_path / "a.mp3"), []

    def download() -> None:
        try:
            fetch_to_file(make_session(), server.url("/a.mp3"), transfer,
                          DownloadSettings(timeout=(2.0, 30.0)), cancel)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # asserted below
            errors.append(exc)

    worker = threading.Thread(target=download, daemon=True)
    worker.start()
    wait_for(lambda: transfer.partial is not None)
    started = time.monotonic()
    cancel.cancel()
    worker.join(5)
    assert time.monotonic() - started < 0.5 and errors
    assert not (tmp_path / "a.mp3").exists()


def test_recorded_files_outside_the_limit_are_verified_too(server: FaultServer, db_path: Path,
                                                           episodes_dir: Path) -> None:
    """--max-episodes limits what is fetched for the first time, not what is checked."""
    for n in range(2):
        server.routes[f"/{n}.mp3"] = [respond(MP3)]
    store(db_path, server, ["/0.mp3", "/1.mp3"])
    download_episodes(db_path, episodes_dir, settings=FAST)
    (episodes_dir / "episode-0.mp3").write_bytes(MP3[:100])  # the older one, outside limit=1
    results = {r.link: r.status for r in download_episodes(db_path, episodes_dir, limit=1,
                                                            settings=FAST)}
    assert results == {"https://example.org/ep/0": "downloaded",
                       "https://example.org/ep/1": "skipped"}
    assert (episodes_dir / "episode-0.mp3").read_bytes() == MP3


def test_a_silent_host_costs_one_read_timeout_per_attempt(server: FaultServer, db_path: Path,
                                                          episodes_dir: Path) -> None:
    """A host that accepts the connection and never answers is asked once per attempt: urllib3
    does not retry the read timeout on top (that made a silent host stall a run for 15 minutes)."""
    server.routes["/silent.mp3"] = [lambda handler: time.sleep(3)]
    store(db_path, server, ["/silent.mp3"])
    result = only(download_episodes(db_path, episodes_dir, settings=FAST))
    assert result.status == "failed"
    assert server.hits["/silent.mp3"] == FAST.attempts
    _assert_consistent(db_path, episodes_dir)


def test_an_empty_200_answer_is_a_failure_not_a_download(server: FaultServer, db_path: Path,
                                                        episodes_dir: Path) -> None:
    """A 200 with no body: failed, nothing recorded, no file (a rerun tries again)."""
    server.routes["/empty.mp3"] = [respond(b"")]
    store(db_path, server, ["/empty.mp3"])
    result = only(download_episodes(db_path, episodes_dir, settings=FAST))
    assert result.status == "failed" and "empty file (0 bytes)" in result.error
    assert _rows(db_path) == {"https://example.org/ep/0": (None, None)}
    assert not list(episodes_dir.iterdir())


CHANGED = bytes(reversed(MP3)) + b"\x00" * 100  # the file on the host now: another size


@pytest.mark.parametrize(("responder", "size"), [
    (serve_file(CHANGED, etag='"v1"'), len(MP3)),
    (serve_file(CHANGED, etag='"v2"', honour_if_range=False), None)],
    ids=["same ETag, another size", "If-Range ignored, another ETag"])
def test_a_resume_of_another_file_starts_over_instead_of_stitching(
        responder, size: int | None, server: FaultServer, db_path: Path,
        episodes_dir: Path) -> None:
    """The partial file holds the first bytes of the old file. A 206 whose total size or
    validator is not the one the download began with is another file: the partial is dropped
    and the new file downloaded whole (never old bytes followed by new ones)."""
    server.routes["/a.mp3"] = [responder]
    store(db_path, server, ["/a.mp3"])
    _partial_of(episodes_dir, MP3[:4000])
    _remember_validator(db_path, '"v1"', size)
    assert only(download_episodes(db_path, episodes_dir, settings=FAST)).status == "downloaded"
    assert (episodes_dir / "episode-0.mp3").read_bytes() == CHANGED
    assert _rows(db_path) == {"https://example.org/ep/0": (
        len(CHANGED), hashlib.sha256(CHANGED).hexdigest())}
    assert not list(episodes_dir.glob(".*.part"))


def test_audio_sent_gzip_encoded_is_stored_decoded(server: FaultServer, db_path: Path,
                                                   episodes_dir: Path) -> None:
    """A host that gzips the audio anyway: the file is the audio itself (its Content-Length
    counts the compressed bytes, which failed every run as "received X of Y bytes")."""
    server.routes["/a.mp3"] = [respond(gzip.compress(MP3), headers={"Content-Encoding": "gzip",
                                                                     "ETag": '"v1"'})]
    store(db_path, server, ["/a.mp3"])
    result = only(download_episodes(db_path, episodes_dir, settings=FAST))
    assert result.status == "downloaded", result.error
    assert (episodes_dir / "episode-0.mp3").read_bytes() == MP3
    _assert_consistent(db_path, episodes_dir)
