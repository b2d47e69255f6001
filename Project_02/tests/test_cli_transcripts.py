"""The command line's transcribe step and search command: in-process, and Ctrl-C in a real
process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from podcast_testkit import (PROJECT_DIR, SILENT_MP3, FaultServer, make_feed, make_item,
                             respond)

from podcast_pipeline import main


@pytest.fixture(name="run")
def fixture_run(db_path: Path, episodes_dir: Path, capsys: pytest.CaptureFixture):
    """Run a command with this test's paths; return (exit code, stdout, stderr)."""
    def run(command: str, *args: str) -> tuple[int, str, str]:
        paths = ["--db-path", str(db_path)]
        if command != "search":
            paths += ["--episodes-dir", str(episodes_dir)]
        code = main([command, *paths, *args] if command else [*paths, *args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def serve(server: FaultServer, payloads: list[bytes]) -> str:
    """A loopback feed whose episode n (published on day n) has audio ``payloads[n - 1]``."""
    count = len(payloads)
    server.routes["/feed.xml"] = [respond(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in range(1, count + 1)]))]
    for n, payload in enumerate(payloads, start=1):
        server.routes[f"/audio/{n}.mp3"] = [respond(payload)]
    return server.url("/feed.xml")


def stored_transcripts(db_path: Path) -> list[str]:
    """Links with a stored transcript."""
    with sqlite3.connect(db_path) as db:
        return sorted(row[0] for row in db.execute("SELECT link FROM transcripts"))


def test_bare_command_is_run_and_no_transcribe_skips(run, server: FaultServer,
                                                     episodes_dir: Path) -> None:
    """No subcommand means run; --no-transcribe leaves work that the next run does, once."""
    feed_url = serve(server, [SILENT_MP3] * 2)
    code, out, _ = run("", "--feed-url", feed_url, "--no-transcribe", "--format", "json")
    assert code == 0 and json.loads(out)["transcribed"] == 0
    assert not list(episodes_dir.glob("*.vtt"))
    code, out, _ = run("run", "--feed-url", feed_url, "--format", "json")
    assert code == 0 and json.loads(out)["transcribed"] == 2
    assert len(list(episodes_dir.glob("*.vtt"))) == 2
    code, out, _ = run("run", "--feed-url", feed_url)
    assert code == 0 and "Text:      0 transcribed\n" in out


def test_max_transcripts_says_so(run, server: FaultServer) -> None:
    """--max-transcripts 1 transcribes the newest episode and the table says why only one."""
    code, out, _ = run("run", "--feed-url", serve(server, [SILENT_MP3] * 3),
                       "--max-transcripts", "1")
    assert code == 0
    assert "Text:      1 transcribed (the newest 1 at most: --max-transcripts)" in out


def test_search_finds_the_moment_and_the_episode(run, server: FaultServer, speech_dir: Path,
                                                 db_path: Path) -> None:
    """Transcribed JFK: JSON with exactly the documented keys; a table with hh:mm:ss."""
    speech = (speech_dir / "jfk.mp3").read_bytes()
    assert run("run", "--feed-url", serve(server, [SILENT_MP3, speech]))[0] == 0
    code, out, _ = run("search", "fellow americans", "--format", "json")
    (hit,) = json.loads(out)
    assert code == 0 and list(hit) == ["link", "title", "published", "start", "end", "text"]
    assert (hit["link"], hit["title"]) == ("https://example.org/ep/2", "Episode 2")
    assert 1.0 <= hit["start"] <= 1.8 and "fellow Americans" in hit["text"]
    code, out, _ = run("search", "country", "--limit", "1")
    assert code == 0 and out.startswith("00:00:") and "Episode 2" in out
    assert out.count("\n") == 1 and "[country]" in out
    assert stored_transcripts(db_path) == ["https://example.org/ep/1", "https://example.org/ep/2"]


@pytest.mark.parametrize("phrase", ["zebra", '"', "AND", "*", "((", "NEAR(", ""])
def test_search_without_a_match_prints_an_empty_list(run, server: FaultServer,
                                                     phrase: str) -> None:
    """Absent words and bare FTS5 syntax: `[]` and exit 0, in table form a plain sentence."""
    assert run("run", "--feed-url", serve(server, [SILENT_MP3]))[0] == 0
    assert run("search", phrase, "--format", "json")[:2] == (0, "[]\n")
    assert run("search", phrase)[:2] == (0, f"No episode says {phrase!r}.\n")


def test_search_without_a_database_is_one_error_line(run, db_path: Path) -> None:
    """Exit 1 and one `error:` line; no database is created."""
    code, out, err = run("search", "anything")
    assert (code, out) == (1, "")
    assert err.strip().splitlines() == [f"error: no database at {db_path}: run the pipeline first"]
    assert not db_path.exists()


@pytest.mark.parametrize("args", [["search"], ["search", "x", "--limit", "0"],
                                  ["search", "x", "--format", "xml"],
                                  ["run", "--max-transcripts", "0"],
                                  ["--whisper-threads", "-1"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    """Missing phrase, limits out of range, unknown formats."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2


def test_corrupt_episode_fails_and_the_others_are_transcribed(
        run, server: FaultServer, speech_dir: Path, db_path: Path) -> None:
    """A truncated MP3 among good ones: exit 1, its reason listed, the rest transcribed."""
    speech = (speech_dir / "jfk.mp3").read_bytes()
    code, out, err = run("run", "--feed-url", serve(
        server, [speech[: len(speech) // 3], SILENT_MP3]), "--format", "json")
    summary = json.loads(out)
    assert code == 1 and summary["transcribed"] == 1
    (failure,) = summary["failed"]
    assert failure["link"] == "https://example.org/ep/1"
    assert "decoded 3.6 s of the 11.0 s its header promises" in failure["error"]
    assert "error: 1 episode(s) failed" in err
    assert stored_transcripts(db_path) == ["https://example.org/ep/2"]


@pytest.mark.parametrize("model", ["enormous", "", "/no/such/folder"])
def test_unknown_model_is_a_usage_error_before_any_work(
        run, server: FaultServer, db_path: Path, capsys: pytest.CaptureFixture,
        model: str) -> None:
    """A model that is neither a folder nor a size name: exit 2 before the feed is even read
    (not exit 1 after every download)."""
    with pytest.raises(SystemExit) as exc:
        run("run", "--feed-url", serve(server, [SILENT_MP3]), "--whisper-model", model)
    assert exc.value.code == 2
    assert "argument --whisper-model: " in capsys.readouterr().err.strip().splitlines()[-1]
    assert not db_path.exists() and not server.hits


@pytest.mark.slow
def test_ctrl_c_while_transcribing_exits_130_and_leaves_no_partial_transcript(
        server: FaultServer, long_episode: Path, tmp_path: Path) -> None:
    """SIGINT to a real process mid-episode: exit 130, no .vtt, no stored segments, no
    temporary file; the next run transcribes the episode."""
    feed_url = serve(server, [long_episode.read_bytes()])
    command = [sys.executable, str(PROJECT_DIR / "podcast_pipeline.py"), "run", "--feed-url",
               feed_url, "--db-path", str(tmp_path / "e.db"), "--episodes-dir",
               str(tmp_path / "audio"), "--whisper-threads", "2"]
    started = threading.Event()
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                          stdout=subprocess.DEVNULL) as process:
        def watch() -> None:
            for line in process.stderr:
                if "Loaded Whisper model" in line:  # the next thing it does is transcribe
                    started.set()

        threading.Thread(target=watch, daemon=True).start()
        assert started.wait(60), "transcription never started"
        threading.Event().wait(1.5)
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 130
    assert [name[-4:] for name in os.listdir(tmp_path / "audio")] == [".mp3"]  # nothing else
    assert stored_transcripts(tmp_path / "e.db") == []
    done = subprocess.run(command + ["--format", "json"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and json.loads(done.stdout)["transcribed"] == 1
