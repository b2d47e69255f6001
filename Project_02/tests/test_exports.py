"""Transcript exports: SubRip and plain text beside the WebVTT, on request, written atomically,
parsed back to the same cues; --transcript-formats checked before any work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from podcast_testkit import SILENT_MP3, FaultServer, make_feed, make_item, respond

from podcast_pipeline import main
from podcasts.exports import render_srt, render_txt, srt_timestamp, write_transcripts
from podcasts.vtt import TimedText

CUES = [TimedText(0.0, 2.5, "Hello & <welcome>"), TimedText(2.5, 3661.25, "  an hour   later "),
        TimedText(4000.0, 4000.0, " "), TimedText(4001.0, 4000.5, "ends before it starts")]
SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n"
                     r"(.+)\n\n")


def parse_srt(document: str) -> list[tuple[int, float, float, str]]:
    """Read a SubRip document back strictly: the whole text must be well-formed cues."""
    cues, position = [], 0
    while position < len(document):
        match = SRT_CUE.match(document, position)
        assert match, f"not SubRip at {position}: {document[position:position + 40]!r}"
        n, *clock, text = match.groups()
        numbers = [int(part) for part in clock]
        start = numbers[0] * 3600 + numbers[1] * 60 + numbers[2] + numbers[3] / 1000
        end = numbers[4] * 3600 + numbers[5] * 60 + numbers[6] + numbers[7] / 1000
        cues.append((int(n), start, end, text))
        position = match.end()
    return cues


@pytest.mark.parametrize(("seconds", "stamp"), [
    (0, "00:00:00,000"), (8.02, "00:00:08,020"), (3661.5, "01:01:01,500"),
    (59.9996, "00:01:00,000"), (-1, "00:00:00,000")])
def test_srt_timestamps_have_a_comma(seconds: float, stamp: str) -> None:
    """hh:mm:ss,mmm as SubRip writes it, rounded to the millisecond, never negative."""
    assert srt_timestamp(seconds) == stamp


def test_srt_round_trips() -> None:
    """Numbered from 1 and consecutive; blank segments left out; text on one line, unescaped
    (SubRip is not markup); an end before the start is the start; parsed back to the cues."""
    assert parse_srt(render_srt(CUES)) == [
        (1, 0.0, 2.5, "Hello & <welcome>"), (2, 2.5, 3661.25, "an hour later"),
        (3, 4001.0, 4001.0, "ends before it starts")]
    assert not render_srt([])


def test_txt_is_the_words_one_line_per_segment() -> None:
    """No timings, no blank lines."""
    assert render_txt(CUES) == "Hello & <welcome>\nan hour later\nends before it starts\n"


def test_files_are_written_beside_the_audio(tmp_path: Path) -> None:
    """Same stem, each requested format, whole (no temporary file left)."""
    audio = tmp_path / "episode.mp3"
    written = write_transcripts(audio, CUES, ("vtt", "srt", "txt"))
    assert written == [tmp_path / f"episode.{kind}" for kind in ("vtt", "srt", "txt")]
    assert (tmp_path / "episode.vtt").read_text().startswith("WEBVTT\n")
    assert (tmp_path / "episode.txt").read_text() == render_txt(CUES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode.srt", "episode.txt",
                                                          "episode.vtt"]


@pytest.mark.parametrize(("value", "message"), [
    ("srt", "must include vtt"), ("vtt,pdf", "unknown format 'pdf'"), ("", "unknown format ''"),
    ("vtt,,srt", "unknown format ''")])
def test_bad_formats_are_refused_before_any_work(value: str, message: str, db_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    """Exit 2 with the reason; nothing is created."""
    with pytest.raises(SystemExit) as stop:
        main(["run", "--db-path", str(db_path), "--transcript-formats", value])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not db_path.parent.exists()


def test_a_run_writes_the_formats_asked_for_and_restores_them(
        server: FaultServer, speech_dir: Path, db_path: Path, episodes_dir: Path) -> None:
    """vtt,srt,txt: all three beside the audio, the .srt well-formed and saying what the .txt
    says; deleted or emptied, they are written again by the next run, from the database; one
    changed by hand is left alone."""
    server.routes["/feed.xml"] = [respond(make_feed([
        make_item(1, server.url("/1.mp3"), day=1), make_item(2, server.url("/2.mp3"), day=2)]))]
    server.routes["/1.mp3"] = [respond(SILENT_MP3)]
    server.routes["/2.mp3"] = [respond((speech_dir / "jfk.mp3").read_bytes())]
    args = ["run", "--feed-url", server.url("/feed.xml"), "--db-path", str(db_path),
            "--episodes-dir", str(episodes_dir), "--transcript-formats", "txt,vtt,srt"]
    assert main(args) == 0
    (audio,) = [path for path in episodes_dir.glob("*.mp3")
                if path.with_suffix(".txt").read_text()]
    srt = parse_srt(audio.with_suffix(".srt").read_text())
    assert [text for *_, text in srt] == audio.with_suffix(".txt").read_text().splitlines()
    assert "fellow Americans" in audio.with_suffix(".txt").read_text()
    assert [n for n, *_ in srt] == list(range(1, len(srt) + 1))
    before = audio.with_suffix(".srt").read_bytes()
    audio.with_suffix(".srt").unlink()
    audio.with_suffix(".txt").write_bytes(b"")
    audio.with_suffix(".vtt").write_text("WEBVTT\n\ncorrected by hand")
    assert main(args) == 0
    assert audio.with_suffix(".srt").read_bytes() == before
    assert "fellow Americans" in audio.with_suffix(".txt").read_text()
    assert audio.with_suffix(".vtt").read_text() == "WEBVTT\n\ncorrected by hand"
    assert not list(episodes_dir.glob(".*.part"))
