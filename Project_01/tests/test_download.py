"""Downloading a data set from a loopback server that misbehaves: verified, extracted and renamed
into the cache whole, or refused with one clear error and nothing left behind."""

from __future__ import annotations

import errno
import http.server
import io
import time
import zipfile
from pathlib import Path

import pytest
from movielens_testkit import (
    MOVIES_CSV, RATINGS_CSV, FaultServer, Responder, body, md5, zip_folder,
)

from movies import download as download_module
from movies.cache import load_or_build_index
from movies.download import download_dataset, make_session, parse_md5
from movies.errors import DataError, DownloadError, FileWriteError
from movies.files import LOCK_NAME


@pytest.mark.parametrize(
    "text",
    ["d41d8cd98f00b204e9800998ecf8427e", "MD5 (ml.zip) = D41D8CD98F00B204E9800998ECF8427E\n",
     "d41d8cd98f00b204e9800998ecf8427e  ml-latest-small.zip\n"],
)
def test_parse_md5_takes_the_digest_whatever_surrounds_it(text: str) -> None:
    """Both md5sum and BSD formats work."""
    assert parse_md5(text) == "d41d8cd98f00b204e9800998ecf8427e"


def test_parse_md5_without_a_digest_raises() -> None:
    """A file with no digest cannot verify anything."""
    with pytest.raises(DownloadError, match="no MD5"):
        parse_md5("not found")


@pytest.fixture(name="cache")
def fixture_cache(tmp_path: Path) -> Path:
    """An empty cache folder."""
    return tmp_path / "cache"


@pytest.fixture(name="archive")
def fixture_archive(tiny_dir: Path) -> bytes:
    """The tiny folder zipped as GroupLens ships ml-latest-small."""
    return zip_folder(tiny_dir, "ml-latest-small")


def _serve(server: FaultServer, archive: list, digest: str) -> None:
    server.routes["/ml-latest-small.zip"] = archive
    server.routes["/ml-latest-small.zip.md5"] = [body(f"{digest}  ml-latest-small.zip\n".encode())]


def _leftovers(cache: Path) -> list[str]:
    """What the cache folder holds besides its lock file."""
    return sorted(p.name for p in cache.iterdir() if p.name != LOCK_NAME)


def _download(server: FaultServer, cache: Path) -> Path:
    return download_dataset("ml-latest-small", cache, server.url(),
                            session=make_session(retries=2, backoff=0))


def test_download_extracts_verifies_and_caches(fault_server: FaultServer, archive: bytes,
                                               cache: Path) -> None:
    """A good download is extracted; a second call uses the cache without a request."""
    _serve(fault_server, [body(archive)], md5(archive))
    folder = _download(fault_server, cache)
    assert (folder / "ratings.csv").read_text(encoding="utf-8") == RATINGS_CSV
    assert _leftovers(cache) == ["ml-latest-small"]
    _download(fault_server, cache)
    assert fault_server.hits["/ml-latest-small.zip"] == 1


def test_md5_mismatch_deletes_the_file(fault_server: FaultServer, archive: bytes,
                                       cache: Path) -> None:
    """A body that does not match the published digest is deleted and reported."""
    _serve(fault_server, [body(archive)], "0" * 32)
    with pytest.raises(DownloadError, match="MD5 mismatch.*deleted"):
        _download(fault_server, cache)
    assert _leftovers(cache) == []


def test_truncated_body_leaves_nothing_behind(fault_server: FaultServer, archive: bytes,
                                              cache: Path) -> None:
    """A connection closed before Content-Length bytes is an error, and no partial file stays."""
    _serve(fault_server, [body(archive[:100], length=len(archive))], md5(archive))
    with pytest.raises(DownloadError, match="could not download"):
        _download(fault_server, cache)
    assert _leftovers(cache) == []


def test_transient_500_is_retried(fault_server: FaultServer, archive: bytes, cache: Path) -> None:
    """A 500 followed by success downloads fine."""
    _serve(fault_server, [body(b"oops", status=500), body(archive)], md5(archive))
    assert (_download(fault_server, cache) / "movies.csv").is_file()
    assert fault_server.hits["/ml-latest-small.zip"] == 2


def test_persistent_500_gives_up(fault_server: FaultServer, archive: bytes, cache: Path) -> None:
    """After the retries, a server error is reported with the --data-dir hint."""
    _serve(fault_server, [body(b"oops", status=503)], md5(archive))
    fault_server.routes["/ml-latest-small.zip.md5"] = [body(b"oops", status=503)]
    with pytest.raises(DownloadError, match="--data-dir"):
        _download(fault_server, cache)


def test_unreachable_host_says_how_to_work_offline(cache: Path) -> None:
    """Nothing listens on the port: a one-line error that names --data-dir."""
    session = make_session(retries=1, backoff=0)
    with pytest.raises(DownloadError, match="--data-dir DIR"):
        download_dataset("ml-latest-small", cache, "http://127.0.0.1:9", session=session)


def _not_http(handler: http.server.BaseHTTPRequestHandler) -> None:
    """A responder whose answer is not HTTP at all (another service on the port)."""
    handler.wfile.write(b"\x00\x01 hello from another protocol\r\n\r\n")
    handler.close_connection = True


@pytest.mark.parametrize(
    ("responder", "reason"),
    [
        (body(b"gone", status=404), "(HTTP 404 Not Found)"),
        (body(b"oops", status=503), "(the server answered: too many 503 error responses)"),
        (body(b"x" * 100, length=1000), "(the connection closed after 100 of 1,000 bytes)"),
        (_not_http, "(the server's answer is not HTTP)"),
    ],
)
def test_a_failed_download_says_why_in_words(fault_server: FaultServer, cache: Path,
                                             responder: Responder, reason: str) -> None:
    """The error names what went wrong (a status, a cut body), not an exception class."""
    _serve(fault_server, [responder], "0" * 32)
    with pytest.raises(DownloadError) as exc:
        _download(fault_server, cache)
    assert reason in str(exc.value) and "--data-dir DIR" in str(exc.value)
    assert _leftovers(cache) == []


def _headers(payload: bytes, **headers: str) -> Responder:
    """A responder that sends ``payload`` with these headers (underscores become dashes)."""
    def respond(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(payload)
        handler.close_connection = True
    return respond


@pytest.mark.parametrize("length", ["abc", "-5", "1e6", "", "12x"])
def test_a_nonsense_content_length_is_ignored(fault_server: FaultServer, archive: bytes,
                                              cache: Path, length: str) -> None:
    """The size header only feeds the progress bar: nonsense there is no crash, and the MD5
    still decides."""
    _serve(fault_server, [_headers(archive, Content_Length=length)], md5(archive))
    assert (_download(fault_server, cache) / "ratings.csv").read_text(encoding="utf-8") == \
        RATINGS_CSV


def test_a_malformed_chunked_body_says_so(fault_server: FaultServer, archive: bytes,
                                          cache: Path) -> None:
    """A body announced as chunked that is not: a clear reason, nothing left behind."""
    _serve(fault_server, [_headers(archive, Transfer_Encoding="chunked")], md5(archive))
    with pytest.raises(DownloadError, match="the server's chunked answer is malformed"):
        _download(fault_server, cache)
    assert _leftovers(cache) == []


@pytest.mark.parametrize("base_url", ["not a url", "ftp://127.0.0.1/x", "http://127.0.0.1:99999"])
def test_a_base_url_that_is_not_http_says_so(cache: Path, base_url: str) -> None:
    """A mistyped MOVIELENS_BASE_URL is named as such, not by an exception class."""
    with pytest.raises(DownloadError, match=r"\(not a valid http:// or https:// URL\)"):
        download_dataset("ml-latest-small", cache, base_url, session=make_session(retries=0))


def test_a_refused_connection_says_so(cache: Path) -> None:
    """Nothing listens on the port: the error says the connection was refused."""
    session = make_session(retries=0, backoff=0)
    with pytest.raises(DownloadError, match=r"\(cannot connect: Connection refused\)"):
        download_dataset("ml-latest-small", cache, "http://127.0.0.1:9", session=session)


def test_corrupted_zip_is_a_data_error_and_deleted(fault_server: FaultServer,
                                                   cache: Path) -> None:
    """A verified body that is not a zip is reported and removed."""
    payload = b"this is not a zip"
    _serve(fault_server, [body(payload)], md5(payload))
    with pytest.raises(DataError, match="not a valid zip"):
        _download(fault_server, cache)
    assert _leftovers(cache) == []


def _hang_up(handler: http.server.BaseHTTPRequestHandler) -> None:
    """A responder that closes the connection without answering (a server restarting)."""
    handler.close_connection = True


@pytest.mark.parametrize("first", [_hang_up, body(b"slow down", status=429)],
                         ids=["connection dropped", "429 Too Many Requests"])
def test_a_dropped_connection_or_a_429_is_retried(fault_server: FaultServer, archive: bytes,
                                                  cache: Path, first: Responder) -> None:
    """The first answer is lost or says "too many requests": asked again, the download works."""
    _serve(fault_server, [first, body(archive)], md5(archive))
    folder = _download(fault_server, cache)
    assert (folder / "ratings.csv").read_text(encoding="utf-8") == RATINGS_CSV
    assert fault_server.hits["/ml-latest-small.zip"] == 2


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, payload in members.items():
            bundle.writestr(name, payload)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"ml-latest-small/movies.csv": MOVIES_CSV.encode()}, "no folder with non-empty"),
        ({"ml-latest-small/movies.csv": MOVIES_CSV.encode(), "ml-latest-small/ratings.csv": b""},
         "no folder with non-empty"),
        ({"a/movies.csv": MOVIES_CSV.encode(), "b/ratings.csv": RATINGS_CSV.encode()},
         "no folder with non-empty"),
        ({"../evil.csv": b"x", "m/movies.csv": b"x", "m/ratings.csv": b"x"}, "unsafe path"),
        ({"C:/evil.csv": b"x"}, "unsafe path"),
    ],
)
def test_an_archive_without_the_data_files_is_refused(fault_server: FaultServer, cache: Path,
                                                      members: dict, message: str) -> None:
    """A verified zip must still hold movies.csv and ratings.csv, side by side and non-empty."""
    payload = _zip(members)
    _serve(fault_server, [body(payload)], md5(payload))
    with pytest.raises(DataError, match=message):
        _download(fault_server, cache)
    assert _leftovers(cache) == []
    assert not (cache.parent / "evil.csv").exists()


def test_a_corrupted_member_is_refused(fault_server: FaultServer, archive: bytes,
                                       cache: Path) -> None:
    """A zip whose member fails its CRC (damaged where the MD5 was not published) is refused."""
    damaged = bytearray(archive)
    start = damaged.index(b"movieId,title")
    damaged[start:start + 7] = b"MOVIEID"
    _serve(fault_server, [body(bytes(damaged))], md5(bytes(damaged)))
    with pytest.raises(DataError, match="not a valid zip"):
        _download(fault_server, cache)
    assert _leftovers(cache) == []


def test_a_zip_bomb_is_refused_before_extraction(fault_server: FaultServer, cache: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Members that would unpack to far more than any MovieLens data set are not extracted."""
    monkeypatch.setattr(download_module, "MAX_UNPACKED_BYTES", 1000)
    payload = _zip({"m/movies.csv": b"0" * 600, "m/ratings.csv": b"0" * 600})
    _serve(fault_server, [body(payload)], md5(payload))
    with pytest.raises(DataError, match="would unpack to 1200 bytes"):
        _download(fault_server, cache)
    assert _leftovers(cache) == []


def test_an_incomplete_cached_folder_is_replaced(fault_server: FaultServer, archive: bytes,
                                                 cache: Path) -> None:
    """A data set folder missing ratings.csv (deleted by hand) is downloaded again."""
    (cache / "ml-latest-small").mkdir(parents=True)
    (cache / "ml-latest-small" / "movies.csv").write_text("stale", encoding="utf-8")
    _serve(fault_server, [body(archive)], md5(archive))
    folder = _download(fault_server, cache)
    assert (folder / "movies.csv").read_text(encoding="utf-8") == MOVIES_CSV


def test_a_killed_download_leaves_nothing_the_next_run_trips_over(
        fault_server: FaultServer, archive: bytes, cache: Path) -> None:
    """A dead run's partial zip and half-extracted folder are removed by the next download."""
    cache.mkdir()
    (cache / ".ml-latest-small.zip.k1ll3d.part").write_bytes(archive[:100])
    (cache / ".ml-latest-small.k1ll3d.part").mkdir()
    _serve(fault_server, [body(archive)], md5(archive))
    _download(fault_server, cache)
    assert _leftovers(cache) == ["ml-latest-small"]


def test_an_html_md5_page_is_not_a_digest(fault_server: FaultServer, cache: Path) -> None:
    """A captive portal answering every URL with HTML fails the download, caching nothing."""
    page = b"<html><body>" + b"Please log in to the hotel wifi. " * 400 + b"</body></html>"
    fault_server.routes["/ml-latest-small.zip"] = [body(page)]
    fault_server.routes["/ml-latest-small.zip.md5"] = [body(page)]
    with pytest.raises(DownloadError, match="no MD5"):
        _download(fault_server, cache)
    assert _leftovers(cache) == []


def test_a_server_that_never_answers_fails_in_bounded_time(
        fault_server: FaultServer, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepting the connection and then saying nothing is a timeout, tried twice, not a hang."""
    monkeypatch.setattr(download_module, "TIMEOUT", (1, 0.3))
    fault_server.routes["/ml-latest-small.zip.md5"] = [lambda handler: time.sleep(2)]
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"no answer within 0.3 s.*--data-dir"):
        _download(fault_server, cache)
    assert time.monotonic() - started < 1.5
    assert fault_server.hits["/ml-latest-small.zip.md5"] == 2  # one retry, not five


def test_a_full_disk_while_extracting_is_one_clear_error(
        fault_server: FaultServer, archive: bytes, cache: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC names the cache folder, and nothing half-extracted stays."""
    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "extractall", disk_full)
    _serve(fault_server, [body(archive)], md5(archive))
    with pytest.raises(FileWriteError, match="cannot write ml-latest-small into .*No space left"):
        _download(fault_server, cache)
    assert _leftovers(cache) == []


def test_an_archive_with_the_files_at_its_root_is_accepted(fault_server: FaultServer,
                                                           cache: Path) -> None:
    """Not every mirror zips the folder: files at the zip's root are the data set too."""
    payload = _zip({"movies.csv": MOVIES_CSV.encode(), "ratings.csv": RATINGS_CSV.encode()})
    _serve(fault_server, [body(payload)], md5(payload))
    folder = _download(fault_server, cache)
    assert (folder / "ratings.csv").read_text(encoding="utf-8") == RATINGS_CSV
    assert _leftovers(cache) == ["ml-latest-small"]


def test_a_downloaded_file_changed_since_is_refused_when_indexed(
        fault_server: FaultServer, archive: bytes, cache: Path) -> None:
    """Regression: one flipped bit in a downloaded ratings.csv ("5.0" read as "4.0") was indexed
    silently, and answered differently. The checksums taken at download now refuse it."""
    _serve(fault_server, [body(archive)], md5(archive))
    folder = _download(fault_server, cache)
    assert load_or_build_index(folder, cache, 4.0).ratings.recommend(1)
    ratings = folder / "ratings.csv"
    damaged = bytearray(ratings.read_bytes())
    damaged[damaged.index(b"5.0")] ^= 0x01  # "5" -> "4": still a valid rating
    ratings.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match="ratings.csv changed since it was downloaded and verified"):
        load_or_build_index(folder, cache, 3.5)  # a new threshold: the index is built again
