"""HTTP for the podcast pipeline: a retrying session, and a conditional, time-boxed feed fetch.

The feed is fetched with a conditional GET (If-None-Match / If-Modified-Since on the validators
of the last fetch): a 304 answer means nothing new, and nothing is parsed. However the host
misbehaves (accepts connections and never answers, trickles bytes, says "retry after an hour"),
the fetch gives up within ``FEED_DEADLINE`` seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from podcasts.errors import FeedError

logger = logging.getLogger(__name__)

MAX_FEED_BYTES = 50 * 1024 * 1024
FEED_TIMEOUT = (5, 10)  # seconds: connect, and between bytes
FEED_DEADLINE = 30.0  # seconds for the whole fetch, retries included
# Worst cases within the deadline: a host that never answers costs 2 x 10 s (one read retry);
# one that refuses or drops connections 4 x 5 s plus 6 s of backoff; Retry-After is capped at 5 s.
FEED_RETRIES = {"retries": 3, "read_retries": 1, "retry_after_max": 5}


@dataclass(frozen=True)
class FeedValidators:
    """What the server said identifies this version of the feed (either may be missing)."""

    etag: str | None = None
    last_modified: str | None = None

    def request_headers(self) -> dict[str, str]:
        """Headers asking the server to answer 304 if the feed has not changed."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class FeedFetch:
    """A fetched feed: its bytes, or None when the server said 304 Not Modified."""

    payload: bytes | None
    validators: FeedValidators


def make_session(retries: int = 4, backoff: float = 1.0, read_retries: int | None = None,
                 retry_after_max: int = 120) -> requests.Session:
    """Return a session retrying connection errors and 429/5xx, honouring Retry-After.

    Args:
        retries: attempts after the first, whatever went wrong.
        backoff: seconds before the third attempt, doubling after (the second is immediate).
        read_retries: at most this many of them after a read timeout (default: ``retries``).
        retry_after_max: a longer Retry-After is cut to this many seconds.
    """
    retry = Retry(
        total=retries,
        read=read_retries,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        retry_after_max=retry_after_max,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": "podcast-pipeline/1.0", "Accept-Encoding": "identity"})
    return session


def _read_body(response: requests.Response, url: str, deadline: float) -> bytes:
    """Read the body as it arrives, within the size limit and the deadline."""
    chunks, size = [], 0
    while chunk := response.raw.read1(1 << 16, decode_content=True):
        size += len(chunk)
        if size > MAX_FEED_BYTES:  # checked while reading: never buffered whole
            raise FeedError(f"feed {url} is larger than {MAX_FEED_BYTES} bytes")
        if time.monotonic() > deadline:
            raise FeedError(f"feed {url} did not arrive within {FEED_DEADLINE:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _timed_out(exc: Exception) -> bool:
    """Whether ``exc`` (or the last error urllib3's retries met) is a timeout."""
    cause = getattr(exc.args[0], "reason", None) if exc.args else None
    timeouts = (requests.Timeout, urllib3.exceptions.TimeoutError)
    # urllib3 files a refused connection (NewConnectionError) under its connect timeouts.
    refused = urllib3.exceptions.NewConnectionError
    return any(isinstance(error, timeouts) and not isinstance(error, refused)
               for error in (exc, cause))


def fetch_feed(url: str, session: requests.Session | None = None,
               validators: FeedValidators | None = None) -> FeedFetch:
    """Download the feed at ``url`` unless it is unchanged since ``validators`` were given.

    Raises:
        FeedError: on any network or HTTP failure, or when ``FEED_DEADLINE`` has passed.
    """
    session = session or make_session(**FEED_RETRIES)
    validators = validators or FeedValidators()
    deadline = time.monotonic() + FEED_DEADLINE
    try:
        with session.get(url, timeout=FEED_TIMEOUT, stream=True,
                         headers=validators.request_headers()) as response:
            response.raise_for_status()
            fresh = FeedValidators(response.headers.get("ETag"),
                                   response.headers.get("Last-Modified"))
            if response.status_code == 304 and not validators.request_headers():
                raise FeedError(f"feed {url} answered 304 Not Modified to a request that named "
                                "no earlier version: nothing to read")
            if response.status_code == 304:
                logger.info("Feed not modified since the last fetch (304)")
                return FeedFetch(None, FeedValidators(
                    fresh.etag or validators.etag, fresh.last_modified or validators.last_modified))
            return FeedFetch(_read_body(response, url, deadline), fresh)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        reason = "no answer in time" if _timed_out(exc) else exc
        raise FeedError(f"could not fetch feed {url}: {reason}") from exc
