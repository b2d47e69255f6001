"""Benchmark downloads side by side on a loopback server that adds 200 ms to every request.

1. 50 episodes: the classic loop (``requests.get(url).content`` one after another) against this
   project's downloader with 1 and with 8 workers.
2. One 200 MB episode: peak RSS of a process downloading it with this project's streaming
   downloader, and with the classic loop that holds the whole body in memory.
3. Transcription with the default model on 2 CPU threads: real-time factor and peak RSS on a
   10-minute and a 60-minute episode of speech (see transcription_benchmark.py).
Results go to BENCHMARKS.md.

Usage:
    python benchmarks/benchmark.py [--episodes 50] [--latency 0.2] [--big-mb 200]
        [--minutes 10 60]
"""

from __future__ import annotations

import argparse
import http.server
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

# The package lives one folder up; a script puts only its own folder (benchmarks/) on sys.path.
PROJECT_DIR = Path(__file__).resolve().parents[1]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

# pylint: disable=wrong-import-position  # these need the path above
from podcasts.downloader import download_episodes
from podcasts.feed import Episode
from podcasts.storage import create_table, load_episodes, newest_episodes
from podcasts.transfer import DownloadSettings

# pylint: enable=wrong-import-position
EPISODE_BYTES = 256 * 1024
CHUNK = b"\x55" * (1 << 20)


class SlowServer:
    """Serves /episode/<n>.mp3 (256 KiB) and /big.mp3 (``big_mb`` MiB, streamed), each after a
    fixed delay, on an ephemeral loopback port."""

    def __init__(self, latency: float, big_mb: int) -> None:
        """Start serving in a background thread."""
        payload = bytes(range(256)) * (EPISODE_BYTES // 256)

        class Handler(http.server.BaseHTTPRequestHandler):
            """Answers every GET after ``latency`` seconds."""

            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # pylint: disable=invalid-name  # http.server's hook name
                """Send an episode, or the big file in 1 MiB chunks."""
                time.sleep(latency)
                size = big_mb * len(CHUNK) if self.path == "/big.mp3" else len(payload)
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if self.path == "/big.mp3":
                    for _ in range(big_mb):
                        self.wfile.write(CHUNK)
                else:
                    self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        """Absolute URL of ``path``."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


def store_episodes(db_path: Path, urls: list[str]) -> None:
    """A database holding one episode per URL."""
    create_table(db_path)
    load_episodes(db_path, [
        Episode(link=f"https://example.org/{n}", title=f"Episode {n}", filename=f"ep-{n}.mp3",
                published=f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}+00:00", description=None,
                url=url)
        for n, url in enumerate(urls)
    ])


def classic_loop(db_path: Path, folder: Path) -> None:
    """The original walkthrough's loop: one request at a time, the whole body in memory."""
    folder.mkdir(parents=True, exist_ok=True)
    for row in newest_episodes(db_path):
        audio = requests.get(row["url"], timeout=60)
        (folder / row["filename"]).write_bytes(audio.content)


def timed_downloads(server: SlowServer, count: int, work: Path) -> dict[str, float]:
    """Seconds to download ``count`` episodes: classic loop, 1 worker, 8 workers."""
    urls = [server.url(f"/episode/{n}.mp3") for n in range(count)]
    timings = {}
    for name, workers in (("classic loop", 0), ("1 worker", 1), ("8 workers", 8)):
        db_path, folder = work / f"{workers}.db", work / f"episodes-{workers}"
        store_episodes(db_path, urls)
        started = time.perf_counter()
        if workers == 0:
            classic_loop(db_path, folder)
        else:
            results = download_episodes(db_path, folder,
                                        settings=DownloadSettings(workers=workers))
            assert all(r.status == "downloaded" for r in results), results
        timings[name] = time.perf_counter() - started
        assert len(list(folder.iterdir())) == count
    return timings


# ru_maxrss survives fork and exec on Linux; a small wrapper process starts the measured one so
# that the figure is the measured process's own.
_MEASURE = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))\n"
)


def peak_rss_mb(mode: str, url: str, work: Path) -> float:
    """Peak RSS (MB) of a fresh process downloading ``url`` the ``mode`` way."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, __file__,
                           "--download-one", mode, url, str(work)],
                          cwd=PROJECT_DIR, check=True, capture_output=True, text=True)
    peak_kb, code = (int(x) for x in done.stdout.split())
    if code != 0:
        raise RuntimeError(f"download-one {mode} exited {code}")
    return peak_kb / 1024


def download_one(mode: str, url: str, work: Path) -> None:
    """Child process: download one file with ``mode`` ('streaming' or 'classic')."""
    db_path = work / f"{mode}.db"
    store_episodes(db_path, [url])
    if mode == "classic":
        classic_loop(db_path, work / mode)
    else:
        results = download_episodes(db_path, work / mode)
        assert [r.status for r in results] == ["downloaded"], results


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks and write BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0],
                        help="episode lengths to transcribe (default: 10 60)")
    parser.add_argument("--whole-minutes", type=float, nargs="*", default=[10.0],
                        help="lengths also transcribed from the whole file, for comparison")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the model")
    parser.add_argument("--output", type=Path, default=PROJECT_DIR / "BENCHMARKS.md")
    parser.add_argument("--download-one", nargs=3, metavar=("MODE", "URL", "DIR"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.download_one:
        download_one(args.download_one[0], args.download_one[1], Path(args.download_one[2]))
        return 0
    server = SlowServer(args.latency, args.big_mb)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            timings = timed_downloads(server, args.episodes, Path(tmp))
            big = server.url("/big.mp3")
            streaming = peak_rss_mb("streaming", big, Path(tmp))
            classic = peak_rss_mb("classic", big, Path(tmp))
            # Imported here so that faster-whisper stays out of the download processes above.
            from transcription_benchmark import (  # pylint: disable=import-outside-toplevel
                transcription_section)

            transcription = transcription_section(args.minutes, args.whole_minutes,
                                                  args.threads, Path(tmp))
    finally:
        server.close()
    speedup = timings["classic loop"] / timings["8 workers"]
    lines = [
        "# Project_02 benchmarks", "",
        "Written by `python benchmarks/benchmark.py` (from this folder) on "
        f"{time.strftime('%Y-%m-%d')}: a loopback server that waits "
        f"{args.latency * 1000:.0f} ms before answering each request, all runs side by side in "
        "one process.", "",
        f"## {args.episodes} episodes of {EPISODE_BYTES // 1024} KiB", "",
        "| downloader | seconds | speedup vs classic loop |", "|---|---|---|",
        *[f"| {name} | {seconds:.2f} | {timings['classic loop'] / seconds:.1f}x |"
          for name, seconds in timings.items()],
        "", f"With 8 workers: **{speedup:.2f}x** faster than the classic loop.", "",
        f"## One {args.big_mb} MiB episode: peak RSS of the downloading process", "",
        "| downloader | peak RSS |", "|---|---|",
        f"| this project (streamed to a .part file in 64 KiB chunks) | {streaming:.0f} MB |",
        f"| classic loop (`requests.get(url).content`) | {classic:.0f} MB |",
        "", f"Streaming stays at **{streaming:.0f} MB**.", "",
        *transcription,
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
