"""The transcribe step: only what needs it, newest first, nothing partial after Ctrl-C, and a
broken file reported while the others are still transcribed."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from podcast_testkit import SILENT_MP3, FaultServer, decode, encode, store

from podcasts import transcription
from podcasts.feed import Episode, episode_filename
from podcasts.search import search
from podcasts.storage import create_table, load_episodes, mark_downloaded
from podcasts.transcription import (TranscribeSettings, episodes_to_transcribe,
                                    tally_transcripts, transcribe_episodes, vtt_path)

SETTINGS = TranscribeSettings(threads=2, show_progress=False)  # the session's cached model


def downloaded(db_path: Path, episodes_dir: Path, server: FaultServer,
               payloads: list[bytes]) -> list[str]:
    """Store one downloaded episode per payload (newest last); return their links."""
    episodes = store(db_path, server, [f"/{n}.mp3" for n in range(len(payloads))])
    episodes_dir.mkdir(parents=True, exist_ok=True)
    for episode, payload in zip(episodes, payloads):
        (episodes_dir / episode.filename).write_bytes(payload)
        mark_downloaded(db_path, episode.link, len(payload), "0" * 64)
    return [episode.link for episode in episodes]


def test_rerun_transcribes_nothing(db_path: Path, episodes_dir: Path,
                                   server: FaultServer) -> None:
    """Two silent episodes: both transcribed (to an empty .vtt), then nothing on the rerun."""
    downloaded(db_path, episodes_dir, server, [SILENT_MP3, SILENT_MP3])
    first = transcribe_episodes(db_path, episodes_dir, SETTINGS)
    assert tally_transcripts(first) == {"transcribed": 2, "failed": []}
    assert sorted(p.name for p in episodes_dir.glob("*.vtt")) == ["episode-0.vtt",
                                                                  "episode-1.vtt"]
    assert (episodes_dir / "episode-0.vtt").read_text() == "WEBVTT\n"
    assert transcribe_episodes(db_path, episodes_dir, SETTINGS) == []


def test_limit_takes_the_newest_first(db_path: Path, episodes_dir: Path,
                                      server: FaultServer) -> None:
    """--max-transcripts 1 transcribes the newest episode; the next run the one before it."""
    links = downloaded(db_path, episodes_dir, server, [SILENT_MP3] * 3)
    one = TranscribeSettings(threads=2, show_progress=False, limit=1)
    assert [r.link for r in transcribe_episodes(db_path, episodes_dir, one)] == [links[2]]
    assert [r.link for r in transcribe_episodes(db_path, episodes_dir, one)] == [links[1]]


def test_episode_without_its_file_waits(db_path: Path, episodes_dir: Path,
                                        server: FaultServer) -> None:
    """An episode whose audio was deleted is not attempted (a download brings it back)."""
    downloaded(db_path, episodes_dir, server, [SILENT_MP3])
    (episodes_dir / "episode-0.mp3").unlink()
    assert transcribe_episodes(db_path, episodes_dir, SETTINGS) == []


def test_broken_files_are_reported_and_the_others_transcribed(
        db_path: Path, episodes_dir: Path, server: FaultServer, speech_dir: Path) -> None:
    """A truncated MP3 and random bytes fail with their reason (before the model runs); JFK is
    still transcribed."""
    speech = (speech_dir / "jfk.mp3").read_bytes()
    links = downloaded(db_path, episodes_dir, server,
                       [speech, speech[: len(speech) // 2], bytes(range(256)) * 40])
    counts = tally_transcripts(transcribe_episodes(db_path, episodes_dir, SETTINGS))
    assert counts["transcribed"] == 1
    errors = {failure["link"]: failure["error"] for failure in counts["failed"]}
    assert errors.keys() == {links[1], links[2]}
    assert "decoded 5.5 s of the 11.0 s its header promises" in errors[links[1]]
    assert "not a readable audio file" in errors[links[2]]
    assert search(db_path, "fellow Americans")[0]["link"] == links[0]
    assert sorted(p.name for p in episodes_dir.glob("*.vtt")) == ["episode-0.vtt"]
    vtt = (episodes_dir / "episode-0.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ") and "your country" in vtt


def test_ctrl_c_while_transcribing_leaves_no_partial_transcript(
        db_path: Path, episodes_dir: Path, server: FaultServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C during the second episode: the first is kept whole, the second has no trace."""
    links = downloaded(db_path, episodes_dir, server, [SILENT_MP3, SILENT_MP3])
    real = transcription.transcribe_file
    calls = []

    def interrupted_on_second_call(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(transcription, "transcribe_file", interrupted_on_second_call)
    with pytest.raises(KeyboardInterrupt):
        transcribe_episodes(db_path, episodes_dir, SETTINGS)
    assert sorted(p.name for p in episodes_dir.iterdir()) == [
        "episode-0.mp3", "episode-1.html", "episode-1.mp3", "episode-1.vtt", "index.html"]
    assert [row["link"] for row in episodes_to_transcribe(db_path, episodes_dir)] == [links[0]]
    monkeypatch.setattr(transcription, "transcribe_file", real)
    assert [r.link for r in transcribe_episodes(db_path, episodes_dir, SETTINGS)] == [links[0]]


def test_a_deleted_vtt_is_written_again_from_the_database(
        db_path: Path, episodes_dir: Path, server: FaultServer, speech_dir: Path) -> None:
    """A transcript's .vtt deleted after the run: the next run writes the same file again from
    the stored segments without transcribing; with its audio gone too, it is left alone."""
    links = downloaded(db_path, episodes_dir, server,
                       [(speech_dir / "jfk.mp3").read_bytes(), SILENT_MP3])
    assert [r.link for r in transcribe_episodes(db_path, episodes_dir, SETTINGS)] == links[::-1]
    speech, silence = (vtt_path(episodes_dir / f"episode-{n}.mp3") for n in (0, 1))
    original = speech.read_bytes()
    assert b"your country" in original
    speech.unlink()
    silence.unlink()
    (episodes_dir / "episode-1.mp3").unlink()
    assert transcribe_episodes(db_path, episodes_dir, SETTINGS) == []
    assert speech.read_bytes() == original
    assert not silence.exists()
    assert sorted(p.name for p in episodes_dir.iterdir()) == [
        "episode-0.html", "episode-0.mp3", "episode-0.vtt", "episode-1.html", "index.html"]


def test_an_m4a_episode_is_transcribed(db_path: Path, episodes_dir: Path, server: FaultServer,
                                       speech_dir: Path, tmp_path: Path) -> None:
    """An AAC (.m4a) episode, as many feeds publish: transcribed like an MP3, not failed."""
    m4a = encode(tmp_path / "jfk.m4a", decode(speech_dir / "jfk.mp3"), "aac", 16_000)
    link, url = "https://example.org/ep/jfk", server.url("/jfk.m4a")
    episode = Episode(link=link, title="JFK", filename=episode_filename(link, "JFK", url),
                      published=None, description=None, url=url)
    assert episode.filename.endswith(".m4a")  # the feed keeps the enclosure's suffix
    create_table(db_path)
    load_episodes(db_path, [episode])
    episodes_dir.mkdir(parents=True)
    (episodes_dir / episode.filename).write_bytes(m4a.read_bytes())
    mark_downloaded(db_path, episode.link, m4a.stat().st_size, "0" * 64)
    counts = tally_transcripts(transcribe_episodes(db_path, episodes_dir, SETTINGS))
    assert counts == {"transcribed": 1, "failed": []}
    assert search(db_path, "fellow Americans")[0]["link"] == episode.link
    assert "your country" in vtt_path(episodes_dir / episode.filename).read_text()


def test_a_full_disk_fails_that_episode_only_naming_its_file(
        db_path: Path, episodes_dir: Path, server: FaultServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No space for the first .vtt: that episode is a failure naming the file; the next one is
    still transcribed; no temporary file is left."""
    downloaded(db_path, episodes_dir, server, [SILENT_MP3, SILENT_MP3])
    real_fsync, calls = os.fsync, []

    def full_once(descriptor: int) -> None:
        calls.append(descriptor)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", full_once)
    counts = tally_transcripts(transcribe_episodes(db_path, episodes_dir, SETTINGS))
    assert counts["transcribed"] == 1
    (failure,) = counts["failed"]
    assert failure["step"] == "transcribe"
    assert f"cannot write {episodes_dir / 'episode-1.vtt'}: No space left" in failure["error"]
    assert sorted(p.name for p in episodes_dir.iterdir()) == [
        "episode-0.html", "episode-0.mp3", "episode-0.vtt", "episode-1.mp3", "index.html"]
