"""Test helpers: hand-made feeds, a fault-injecting loopback server, stored episodes.

Kept out of conftest.py so that test modules can import them by name."""

from __future__ import annotations

import http.server
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import av
import numpy as np
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from podcasts.audio import decode_stream
from podcasts.feed import Episode
from podcasts.settings import DEFAULT_DB_PATH, DEFAULT_EPISODES_DIR
from podcasts.storage import create_table, load_episodes

PROJECT_DIR = Path(__file__).resolve().parents[1]
REAL_FEEDS = PROJECT_DIR.parents[1] / "shared" / "data" / "podcast"
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40  # 10 KiB that looks like an MP3


def make_feed(items: list[str], preamble: str = "") -> bytes:
    """An RSS 2.0 document with the given <item> bodies."""
    body = "".join(f"<item>{item}</item>" for item in items)
    return (f'{preamble}<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
            f"<channel><title>Test</title>{body}</channel></rss>").encode()


def make_item(n: int, url: str, kind: str = "audio/mpeg", day: int = 1) -> str:
    """One complete <item> numbered ``n`` whose enclosure is ``url``."""
    return (f"<title>Episode {n}</title><link>https://example.org/ep/{n}</link>"
            f"<guid>ep-{n}</guid><pubDate>Mon, {day:02d} Jan 2024 08:00:00 +0000</pubDate>"
            f"<description><![CDATA[<p>Show <b>{n}</b> &amp; more</p>]]></description>"
            f'<enclosure url="{url}" type="{kind}" length="1"/>')


Responder = Callable[[http.server.BaseHTTPRequestHandler], None]


class FaultServer:
    """A loopback HTTP server whose responses per path are scripted in order (last one repeats)."""

    def __init__(self) -> None:
        """Start serving on an ephemeral port of 127.0.0.1."""
        self.routes: dict[str, list[Responder]] = {}
        self.hits: dict[str, int] = {}
        self.delay = 0.0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            """Dispatches each GET to the next scripted responder."""

            def do_GET(self) -> None:  # pylint: disable=invalid-name  # http.server's hook name
                """Answer with the next scripted responder for this path."""
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                time.sleep(server.delay)
                script = server.routes.get(self.path)
                if not script:
                    self.send_error(404)
                    return
                (script.pop(0) if len(script) > 1 else script[0])(self)

            def log_message(self, *args: object) -> None:
                """Keep test output quiet."""

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "") -> str:
        """Absolute URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        """Stop the server."""
        self.httpd.shutdown()
        self.httpd.server_close()


def respond(payload: bytes, status: int = 200, length: int | None = None,
            headers: dict[str, str] | None = None, pause: float = 0.0) -> Responder:
    """A responder: headers, then ``payload`` after ``pause`` seconds, claiming ``length`` bytes."""

    def send(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(payload) if length is None else length))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.flush()
        time.sleep(pause)
        try:
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        handler.close_connection = True

    return send


def drop_mid_body(payload: bytes) -> Responder:
    """A responder that sends half the body, then resets the connection."""

    def send(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload[: len(payload) // 2])
        handler.wfile.flush()
        # Linger 0: closing sends a TCP reset, as a crashed server or a dropped network would.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True

    return send


def only(items: list) -> object:
    """The single element of ``items`` (fails the test if there is not exactly one)."""
    assert len(items) == 1, items
    return items[0]


def store(db_path: Path, server: FaultServer, paths: list[str]) -> list[Episode]:
    """Store one episode per audio path on ``server``; return them."""
    episodes = [
        Episode(link=f"https://example.org/ep/{n}", title=f"Episode {n}",
                filename=f"episode-{n}.mp3", published=f"2024-01-{n + 1:02d}T08:00:00+00:00",
                description=None, url=server.url(path))
        for n, path in enumerate(paths)
    ]
    create_table(db_path)
    load_episodes(db_path, episodes)
    return episodes


# Speech to text: real speech in ../shared/data (skipped where absent), made-up audio otherwise.
SPEECH_DIR = REAL_FEEDS / "speech"
# 100 frames of MPEG-1 Layer III, 32 kbit/s, 44.1 kHz, mono, all-zero side info: 2.6 s of silence.
SILENT_MP3 = (b"\xff\xfb\x10\xc0" + bytes(100)) * 100


def write_mp3(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    """Encode mono float samples as a 32 kbit/s MP3 (LAME, through faster-whisper's PyAV)."""
    with av.open(str(path), "w", format="mp3") as output:
        stream = output.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = 32_000
        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32).reshape(1, -1),
                                           format="flt", layout="mono")
        frame.rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            output.mux(packet)
    return path


def encode(path: Path, samples: np.ndarray, codec: str, rate: int) -> Path:
    """Encode 16 kHz mono ``samples`` with ``codec`` at ``rate`` Hz, in the container the suffix
    names (MP4 for .m4a, Ogg for .opus)."""
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
    frame.rate = 16_000
    with av.open(str(path), "w", format="mp4" if path.suffix == ".m4a" else "ogg") as output:
        stream = output.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono",
                                      rate=rate)
        for piece in [*resampler.resample(frame), *resampler.resample(None), None]:
            for packet in stream.encode(piece):
                output.mux(packet)
    return path


def decode(path: Path) -> np.ndarray:
    """All of an audio file as 16 kHz mono float samples."""
    return np.concatenate(list(decode_stream(path)))


def words(text: str) -> list[str]:
    """Lower-cased words, punctuation dropped (how word error rate is counted)."""
    return re.sub(r"[^\w\s]", "", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edits (substitutions, insertions, deletions) per reference word."""
    expected = words(reference)
    return Levenshtein.distance(expected, words(hypothesis)) / len(expected)


# Hypothesis: arbitrary feed items, with enclosures among the awkward URLs real feeds hold.
TEXT = st.text(max_size=30)

URLS = st.sampled_from(["AUDIO", "MISSING", "", "   ", "ftp://127.0.0.1/a.mp3", "http://",
                        "file:///etc/passwd", "http://[::1", "AUDIO?x=<&>"])

FEED_ITEMS = st.fixed_dictionaries({}, optional={
    "title": TEXT, "link": st.one_of(TEXT, st.just("https://example.org/")), "guid": TEXT,
    "pubDate": st.one_of(TEXT, st.sampled_from(["Mon, 01 Jan 2024 08:00:00 +0000",
                                                "Tue, 30 Feb 2024 25:61:00 +0000", "0"])),
    "description": TEXT,
    "enclosure": st.tuples(URLS, st.sampled_from(["audio/mpeg", "x-audio/mp3", "video/mp4", "",
                                                  "AUDIO/MPEG"])),
})



def feed_item_xml(fields: dict, audio_url: str) -> str:
    """One generated item (see FEED_ITEMS) as XML; AUDIO and MISSING name real URLs."""
    parts = [f"<{tag}>{escape(value)}</{tag}>" for tag, value in fields.items()
             if tag != "enclosure"]
    if "enclosure" in fields:
        url, kind = fields["enclosure"]
        url = url.replace("AUDIO", audio_url).replace("MISSING", audio_url + ".gone")
        parts.append(f"<enclosure url={quoteattr(url)} type={quoteattr(kind)}/>")
    return "".join(parts)


def user_files() -> dict[str, tuple[int, int]]:
    """Size and modification time of every file at the default paths (the user's own data)."""
    paths = [*DEFAULT_DB_PATH.parent.glob(f"{DEFAULT_DB_PATH.name}*")]
    if DEFAULT_EPISODES_DIR.is_dir():
        paths += DEFAULT_EPISODES_DIR.iterdir()
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns) for path in paths
            if path.is_file()}


def serve_episodes(server: FaultServer, payloads: list[bytes]) -> str:
    """A loopback feed whose episode n (published on day n) has audio ``payloads[n - 1]``."""
    count = len(payloads)
    server.routes["/feed.xml"] = [respond(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in range(1, count + 1)]))]
    for n, payload in enumerate(payloads, start=1):
        server.routes[f"/audio/{n}.mp3"] = [respond(payload)]
    return server.url("/feed.xml")
