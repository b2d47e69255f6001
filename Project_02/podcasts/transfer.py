"""One HTTP download into a temporary file: resumed with Range/If-Range, cancelled at once.

A download streams into a temporary file of its own (see :mod:`podcasts.files`) and is renamed to
its final name only once every byte the server promised has arrived. When a download is cut
short, the temporary file is kept with the validator (strong ETag, else Last-Modified) it was
started under, and the next attempt asks for the rest with ``Range`` and ``If-Range``: a 206
answer continues the file, a 200 (the server ignores ranges, or the file changed) starts over.

:class:`Cancellation` stops every download of a run at once: it shuts the sockets being read, so
a worker waiting for a slow server wakes up instead of sitting out its read timeout.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from podcasts.errors import DownloadError, IncompleteDownload
from podcasts.files import commit, new_partial

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
RETRYABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class DownloadCancelled(Exception):
    """The run is stopping (Ctrl-C or SIGTERM): the download was abandoned, not failed."""


@dataclass(frozen=True)
class DownloadSettings:
    """How downloads behave; the defaults suit real podcast hosts."""

    workers: int = 4
    timeout: tuple[float, float] = (10.0, 30.0)  # seconds: connect, between bytes
    attempts: int = 3  # a read timeout ends an attempt; the next one resumes with Range
    backoff: float = 1.0  # seconds before the 2nd attempt, doubling after
    max_bytes: int = 1 << 30
    http_retries: int = 4  # urllib3 retries of connection errors and 429/5xx per attempt


class Cancellation:
    """A stop signal shared by every download of a run."""

    def __init__(self) -> None:
        """Start not cancelled, watching no response."""
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._watched: set[requests.Response] = set()

    def is_set(self) -> bool:
        """Whether the run is stopping."""
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True at once if the run is stopping."""
        return self._event.wait(seconds)

    def check(self) -> None:
        """Raise DownloadCancelled if the run is stopping."""
        if self._event.is_set():
            raise DownloadCancelled("cancelled")

    def cancel(self) -> None:
        """Stop every download: set the flag and shut the sockets being read."""
        self._event.set()
        with self._lock:
            for response in self._watched:
                _shutdown(response)

    @contextmanager
    def watching(self, response: requests.Response) -> Iterator[None]:
        """Let :meth:`cancel` shut ``response``'s socket while the block reads it."""
        with self._lock:
            self._watched.add(response)
        if self.is_set():
            _shutdown(response)
        try:
            yield
        finally:
            with self._lock:
                self._watched.discard(response)


def _shutdown(response: requests.Response) -> None:
    """Shut the socket under ``response``: a read blocked on it returns at once.

    The response owns the socket; shutting down a duplicate of its descriptor ends the
    connection itself (closing the duplicate alone would not wake the reader).
    """
    try:
        with socket.socket(fileno=os.dup(response.raw.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass  # already closed: nothing left to wake


@dataclass
class Transfer:
    """One episode's download across attempts: its temporary file and the validator it began with.

    ``on_restart`` is told the validator and the file's size each time the download starts from
    byte 0, so they can be stored where the next run finds them (the database).
    """

    target: Path
    partial: Path | None = None
    validator: str | None = None
    size: int | None = None
    on_restart: Callable[[str | None, int | None], None] = field(
        default=lambda _validator, _size: None)

    def resume_offset(self) -> int:
        """How many bytes can be resumed from (0 without a partial file or a validator)."""
        if self.partial is None or not self.validator or not self.partial.is_file():
            return 0
        return self.partial.stat().st_size

    def restart(self, validator: str | None, size: int | None) -> None:
        """Drop any partial file and start a new, empty one for a download from byte 0."""
        self.discard()
        self.on_restart(validator, size)
        self.validator, self.size = validator, size
        self.partial = new_partial(self.target)

    def discard(self) -> None:
        """Delete the partial file, if any."""
        if self.partial is not None:
            self.partial.unlink(missing_ok=True)
            self.partial = None

    def keep_or_discard(self) -> None:
        """Keep the partial file only if a later attempt (or run) can resume it."""
        if not self.validator:
            self.discard()


def validator_of(headers: requests.structures.CaseInsensitiveDict) -> str | None:
    """The validator If-Range accepts: a strong ETag, else Last-Modified, else None."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _resumed_total(response: requests.Response, transfer: Transfer, offset: int) -> int | None:
    """Check a 206 answer continues the same file at ``offset``; return its total size if known.

    Some hosts keep an ETag while the file changes, or answer 206 whatever If-Range says: a
    different validator or total size than the partial file began with means another file, whose
    rest must not be stitched onto it. The partial file is then dropped (the retry starts over).
    """
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)",
                         response.headers.get("Content-Range", "").strip())
    if match is None or int(match[1]) != offset:
        raise IncompleteDownload(f"the server resumed at {response.headers.get('Content-Range')!r}"
                                 f", not at byte {offset}")
    total = None if match[3] == "*" else int(match[3])
    validator = validator_of(response.headers)
    if (validator and validator != transfer.validator) or (
            total is not None and transfer.size is not None and total != transfer.size):
        transfer.discard()
        raise IncompleteDownload(f"the file changed since its download began ({total} bytes, "
                                 f"{validator}; was {transfer.size}, {transfer.validator}): "
                                 "starting over")
    return total


def _digest_so_far(transfer: Transfer, offset: int) -> Any:
    """A SHA-256 object fed with the first ``offset`` bytes (those of the partial file)."""
    if not offset or transfer.partial is None:
        return hashlib.sha256()
    with open(transfer.partial, "rb") as handle:
        return hashlib.file_digest(handle, "sha256")


def _expected_size(response: requests.Response, transfer: Transfer, offset: int) -> int | None:
    """Prepare ``transfer`` for this answer; return the file's total size, if the server says.

    A body sent compressed (``Content-Encoding: gzip``, although we ask for ``identity``) is
    stored decompressed: its Content-Length counts other bytes, and a range of it cannot be
    resumed, so neither is used.
    """
    encoded = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoded not in ("", "identity"):
        transfer.restart(None, None)
        return None
    if response.status_code == 206 and offset:
        logger.info("Resuming %s at byte %d", transfer.target.name, offset)
        return _resumed_total(response, transfer, offset)
    length = response.headers.get("Content-Length", "")
    size = int(length) if length.isdigit() else None
    transfer.restart(validator_of(response.headers), size)
    return size


def fetch_to_file(session: requests.Session, url: str, transfer: Transfer,
                  settings: DownloadSettings, cancel: Cancellation) -> tuple[int, str]:
    """Stream ``url`` into the transfer's partial file, then rename it to its target.

    Returns:
        The size and SHA-256 of the complete file.

    Raises:
        IncompleteDownload: the body was cut short (the partial file stays for a resume).
        DownloadError: over the size limit, or the server cannot resume as asked.
        DownloadCancelled: the run is stopping.
    """
    offset = transfer.resume_offset()
    headers = {"Range": f"bytes={offset}-", "If-Range": str(transfer.validator)} if offset else {}
    with session.get(url, stream=True, timeout=settings.timeout, headers=headers) as response, \
            cancel.watching(response):
        if response.status_code == 416:
            transfer.discard()
            raise IncompleteDownload("the server cannot resume this file (416); starting over")
        response.raise_for_status()
        if response.headers.get("Content-Type", "").lower().startswith("text/html"):
            raise DownloadError("the server answered with an HTML page, not audio")
        expected = _expected_size(response, transfer, offset)
        offset = offset if response.status_code == 206 else 0
        if expected is not None and expected > settings.max_bytes:
            raise DownloadError(f"{expected} bytes is over the {settings.max_bytes} limit")
        digest = _digest_so_far(transfer, offset)
        size = offset
        with open(transfer.partial, "ab") as handle:
            for chunk in response.iter_content(CHUNK_SIZE):
                cancel.check()
                size += len(chunk)
                if size > settings.max_bytes:
                    raise DownloadError(f"over the {settings.max_bytes} byte limit")
                handle.write(chunk)
                digest.update(chunk)
    cancel.check()  # a shut socket may end a body of unknown length early, without an error
    if expected is not None and size != expected:
        raise IncompleteDownload(f"received {size} of {expected} bytes")
    if size == 0:
        raise DownloadError("the server sent an empty file (0 bytes)")
    commit(transfer.partial, transfer.target)
    transfer.partial = None
    return size, digest.hexdigest()
