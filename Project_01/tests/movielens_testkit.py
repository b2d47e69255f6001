"""Test helpers: hand-made MovieLens data, zips and checksums, a fault-injecting loopback server.

Kept out of conftest.py so that test modules can import them by name."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ml-latest-small"


MOVIES_CSV = """movieId,title,genres
1,Toy Story (1995),Animation|Children
2,"Matrix, The (1999)",Action|Sci-Fi
3,Toy Story 2 (1999),Animation|Children
4,Léon: The Professional (a.k.a. The Professional) (Léon) (1994),Action|Crime
5,Obscure Film (2001),Drama
"""


# Hand-computed example: users 1 and 2 like movie 1; see test_recommender.py.
RATINGS_CSV = """userId,movieId,rating,timestamp
1,1,5.0,1
1,2,5.0,1
2,1,4.5,1
2,3,5.0,1
3,2,5.0,1
3,3,4.5,1
4,1,3.0,1
4,3,5.0,1
4,4,2.0,1
"""


def write_movielens(folder: Path, movies: str = MOVIES_CSV, ratings: str = RATINGS_CSV) -> Path:
    """Write a MovieLens-shaped folder and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.csv").write_text(movies, encoding="utf-8")
    (folder / "ratings.csv").write_text(ratings, encoding="utf-8")
    return folder


def zip_folder(folder: Path, prefix: str) -> bytes:
    """Return a zip of ``folder``'s files under ``prefix/``, as GroupLens ships them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{prefix}/{path.name}")
    return buffer.getvalue()


def md5(payload: bytes) -> str:
    """Hex MD5 of ``payload``."""
    return hashlib.md5(payload).hexdigest()


Responder = Callable[[http.server.BaseHTTPRequestHandler], None]


class FaultServer:
    """A loopback HTTP server whose responses per path are scripted in order (last one repeats)."""

    def __init__(self) -> None:
        """Start serving on an ephemeral port of 127.0.0.1."""
        self.routes: dict[str, list[Responder]] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            """Dispatches each GET to the next scripted responder."""

            def do_GET(self) -> None:  # pylint: disable=invalid-name  # http.server's hook name
                """Answer with the next scripted responder for this path."""
                script = server.routes.get(self.path)
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if not script:
                    self.send_error(404)
                    return
                (script.pop(0) if len(script) > 1 else script[0])(self)

            def log_message(self, *args: object) -> None:
                """Keep test output quiet."""

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)  # polls often: close() returns at once
        self.thread.start()

    def url(self, path: str = "") -> str:
        """Absolute URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        """Stop the server."""
        self.httpd.shutdown()
        self.httpd.server_close()


def body(payload: bytes, status: int = 200, length: int | None = None) -> Responder:
    """A responder that sends ``payload`` and claims ``length`` bytes (default: the truth)."""

    def respond(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(payload) if length is None else length))
        handler.end_headers()
        handler.wfile.write(payload)
        handler.close_connection = True

    return respond


def slow_body(payload: bytes, seconds: float, pieces: int = 20) -> Responder:
    """A responder that trickles ``payload`` over ``seconds``, as a slow mirror does."""

    def respond(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        step = max(1, -(-len(payload) // pieces))
        try:
            for start in range(0, len(payload), step):
                handler.wfile.write(payload[start:start + step])
                handler.wfile.flush()
                time.sleep(seconds / pieces)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was interrupted or killed: what the tests do to it
        handler.close_connection = True

    return respond


# Hand-made ratings for several seeds, filters and the fallback; answers computed by hand.
#
# Who liked what (a 5.0 rating; user 8 only rated movie 7, with 2.0):
#
#     user 1: 1 2 5      user 4: 3 2 8      user 6: 4 5 6      user 8: -
#     user 2: 1 2        user 5: 3 8        user 7: 4 6
#     user 3: 1 6
#
# Seed 1 (Alien): similar users {1, 2, 3}; shares 2: 2/3, 5: 1/3, 6: 1/3; users who liked any kept
# movie {1, 2, 3, 4, 6, 7} = 6, so all-users shares 2: 3/6, 5: 2/6, 6: 3/6; scores 2: 4/3, 5: 1,
# 6: 2/3.
# Seeds 1 and 3 (Alien, Heat): similar users {1, .., 5}; shares 2: 3/5, 8: 2/5, 5: 1/5, 6: 1/5; any
# kept movie liked by users 1-7, so all-users shares 2: 3/7, 8: 2/7, 5: 2/7, 6: 3/7; scores 2: 1.4,
# 8: 1.4 (2 has more ratings, so it comes first), 5: 0.7, 6: 7/15.
STEER_MOVIES_CSV = """movieId,title,genres
1,Alien (1979),Horror|Sci-Fi
2,Aliens (1986),Action|Sci-Fi
3,Heat (1995),Action|Crime
4,Airplane! (1980),Comedy
5,Ghostbusters (1984),Comedy|Sci-Fi
6,Clue (1985),Comedy|Mystery
7,Obscure Western (1950),Western
8,Fargo (1996),Comedy|Crime|Drama
"""
STEER_LIKES = {1: [1, 2, 5], 2: [1, 2], 3: [1, 6], 4: [3, 2, 8], 5: [3, 8], 6: [4, 5, 6], 7: [4, 6]}
STEER_RATINGS_CSV = "userId,movieId,rating,timestamp\n" + "".join(
    f"{user},{movie},5.0,1\n" for user, movies in STEER_LIKES.items() for movie in movies
) + "8,7,2.0,1\n"
