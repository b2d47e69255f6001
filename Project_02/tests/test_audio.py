"""Decoding and chunking: at most 30 s per chunk, cut in quiet, nothing lost, memory flat,
and a truncated or broken file reported."""

from __future__ import annotations

import os
import signal
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from podcast_testkit import SILENT_MP3, decode, encode, write_mp3

from podcasts.audio import (SAMPLE_RATE, Promise, check_duration, chunk_audio, episode_chunks,
                            expected_seconds, quiet_cut, sniff_format, verify_audio)
from podcasts.errors import AudioDecodeError
from podcasts.signals import Interrupted, handle_signals


def speech_like(seconds: float, gaps: list[float], seed: int = 0) -> np.ndarray:
    """Loud noise with 0.3 s of silence starting at each of ``gaps`` (seconds)."""
    samples = np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * SAMPLE_RATE))
    for gap in gaps:
        start = int(gap * SAMPLE_RATE)
        samples[start:start + int(0.3 * SAMPLE_RATE)] = 0.0
    return samples.astype(np.float32)


def blocks_of(samples: np.ndarray, size: int = SAMPLE_RATE):
    """The samples as the decoder hands them over: one second at a time."""
    return (samples[i:i + size] for i in range(0, len(samples), size))


def test_chunks_are_at_most_30_s_cut_in_the_quiet_and_lose_nothing() -> None:
    """95 s with quiet at 22 s, 47 s and 70 s: cut inside each gap, samples unchanged."""
    samples = speech_like(95, gaps=[22.0, 47.0, 70.0])
    chunks = list(chunk_audio(blocks_of(samples)))
    assert all(chunk.seconds <= 30 for chunk in chunks)
    cuts = [chunk.start for chunk in chunks[1:]]
    assert [round(cut) for cut in cuts] == [22, 47, 70]
    assert all(samples[int(cut * SAMPLE_RATE)] == 0 for cut in cuts)
    assert np.array_equal(np.concatenate([chunk.samples for chunk in chunks]), samples)


def test_without_a_quiet_point_a_chunk_is_still_at_most_30_s() -> None:
    """Noise with no pause at all is still cut, into chunks that cover every sample."""
    samples = speech_like(100, gaps=[])
    chunks = list(chunk_audio(blocks_of(samples)))
    assert max(chunk.seconds for chunk in chunks) <= 30
    assert sum(len(chunk.samples) for chunk in chunks) == len(samples)


def test_quiet_cut_prefers_the_latest_of_equally_quiet_stretches() -> None:
    """Two silent stretches: the cut falls in the later one, so chunks stay long."""
    samples = np.ones(10_000, dtype=np.float32)
    samples[2_000:2_200] = samples[7_000:7_200] = 0.0
    assert quiet_cut(samples, window=100, earliest=0) == 7_150


def test_silent_mp3_decodes_to_its_length(tmp_path: Path) -> None:
    """The hand-made MP3 of silence is 100 frames of 1152 samples at 44.1 kHz."""
    path = tmp_path / "silence.mp3"
    path.write_bytes(SILENT_MP3)
    assert len(decode(path)) / SAMPLE_RATE == pytest.approx(100 * 1152 / 44_100, abs=0.01)


def test_truncated_mp3_is_reported_after_its_audio(tmp_path: Path) -> None:
    """Half an MP3 decodes without error; comparing with its header catches it."""
    whole = write_mp3(tmp_path / "whole.mp3", speech_like(20, gaps=[]))
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert sum(chunk.seconds for chunk in episode_chunks(whole)) == pytest.approx(20, abs=0.1)
    with pytest.raises(AudioDecodeError, match=r"cut.mp3: decoded \d+\.\d s of the 20\.\d s"):
        list(episode_chunks(cut))


def test_verify_audio_measures_a_whole_file_and_refuses_a_cut_one(tmp_path: Path) -> None:
    """The check before transcribing: 20 s for the whole file, an error for its first half."""
    whole = write_mp3(tmp_path / "whole.mp3", speech_like(20, gaps=[]))
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert verify_audio(whole) == pytest.approx(20, abs=0.1)
    with pytest.raises(AudioDecodeError, match="truncated or corrupt"):
        verify_audio(cut)


@pytest.mark.parametrize("payload", [b"", b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(1000),
                                     bytes(range(256)) * 40, b"<html>not audio</html>"])
def test_files_that_are_not_audio_are_reported(tmp_path: Path, payload: bytes) -> None:
    """Empty, tag-only, random and HTML files raise AudioDecodeError naming the file."""
    path = tmp_path / "episode.mp3"
    path.write_bytes(payload)
    with pytest.raises(AudioDecodeError, match="episode.mp3"):
        list(episode_chunks(path))


@pytest.mark.slow
def test_memory_stays_flat_over_an_11_minute_episode(long_episode: Path) -> None:
    """Decoding 11 minutes chunk by chunk never holds much more than one chunk (1.9 MB)."""
    tracemalloc.start()
    try:
        seconds = sum(chunk.seconds for chunk in episode_chunks(long_episode))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds > 600
    assert peak < 8_000_000  # the whole episode decoded at once: 43 MB


@pytest.mark.parametrize(("name", "codec", "rate"), [("episode.m4a", "aac", 16_000),
                                                      ("episode.opus", "libopus", 48_000)])
def test_m4a_and_opus_episodes_decode_whole(tmp_path: Path, name: str, codec: str,
                                            rate: int) -> None:
    """AAC in MP4 and Opus in Ogg (feeds carry them and the
    downloader keeps their suffix): decoded by PyAV to their full length, cut into chunks."""
    samples = speech_like(40, gaps=[25.0])
    path = encode(tmp_path / name, samples, codec, rate)
    assert expected_seconds(path).header == pytest.approx(40, abs=0.1)
    assert verify_audio(path) == pytest.approx(40, abs=0.1)
    chunks = list(episode_chunks(path))
    assert [round(chunk.start) for chunk in chunks] == [0, 25]
    assert sum(chunk.seconds for chunk in chunks) == pytest.approx(40, abs=0.1)


def test_broken_m4a_files_are_reported(tmp_path: Path) -> None:
    """An .m4a cut short (its index is at the end), random bytes, an HTML page: a clear reason."""
    whole = encode(tmp_path / "whole.m4a", speech_like(5, gaps=[]), "aac", 16_000).read_bytes()
    for name, payload in [("cut.m4a", whole[: len(whole) // 2]),
                          ("random.m4a", bytes(range(256)) * 40),
                          ("page.m4a", b"<!DOCTYPE html><html><body>Sign in</body></html>")]:
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(AudioDecodeError) as caught:
            verify_audio(path)
        assert str(caught.value) == (f"{name}: not a readable audio file "
                                     "(Invalid data found when processing input)")


def id3_tag_size(mp3: bytes) -> int:
    """The length of the ID3v2 tag a LAME-written MP3 starts with."""
    return 10 + sum((byte & 0x7F) << (7 * (3 - n)) for n, byte in enumerate(mp3[6:10]))


@pytest.mark.parametrize("second_tag", [True, False], ids=["with its tag", "frames only"])
def test_mp3s_joined_into_one_file_decode_whole(tmp_path: Path, second_tag: bool) -> None:
    """Dynamic ad insertion joins MP3s: the first part's header says 20 s of a 60 s file. Every
    part is decoded (a decoder that trusted the header stopped at 20 s, reported as success)."""
    first = write_mp3(tmp_path / "a.mp3", speech_like(20, gaps=[10.0])).read_bytes()
    second = write_mp3(tmp_path / "b.mp3", speech_like(40, gaps=[15.0], seed=1)).read_bytes()
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(first + (second if second_tag else second[id3_tag_size(second):]))
    assert verify_audio(joined) == pytest.approx(60, abs=0.5)
    assert sum(chunk.seconds for chunk in episode_chunks(joined)) == pytest.approx(60, abs=0.5)


def test_a_decode_far_shorter_than_the_size_holds_is_an_error(tmp_path: Path) -> None:
    """The header is not the only promise: the file's size at its bit rate says 40 s too, and a
    decoder that stopped at 15 s (as one that trusts a joined file's first header does) fails."""
    path = write_mp3(tmp_path / "a.mp3", speech_like(40, gaps=[]))
    promise = expected_seconds(path)
    assert promise.by_size == pytest.approx(40, rel=0.05)
    with pytest.raises(AudioDecodeError, match="where its size at its bit rate holds about 40 s"):
        check_duration(path.name, 15.0, Promise(header=0.0, by_size=promise.by_size))


@pytest.mark.parametrize(("head", "container"), [
    (b"ID3\x04\x00", "mp3"), (b"\xff\xfb\x90\x00", "mp3"), (b"\xff\xf1\x50\x80", "aac"),
    (b"\x00\x00\x00\x20ftypM4A ", "mp4"), (b"OggS\x00", "ogg"), (b"fLaC", "flac"),
    (b"RIFF\x00\x00\x00\x00WAVE", "wav"), (b"<!DOCTYPE html>", None), (b"", None)])
def test_the_container_is_told_by_the_first_bytes(head: bytes, container: str | None) -> None:
    """MP3 (tagged or a bare frame), ADTS AAC, MP4/M4A, Ogg, FLAC, WAV; nothing for HTML."""
    assert sniff_format(head) == container


def test_an_m4a_saved_under_an_mp3_name_still_decodes(tmp_path: Path) -> None:
    """The file's bytes pick the decoder, not its suffix (which came from a URL or a feed)."""
    m4a = encode(tmp_path / "real.m4a", speech_like(12, gaps=[]), "aac", 16_000)
    misnamed = tmp_path / "episode.mp3"
    misnamed.write_bytes(m4a.read_bytes())
    assert verify_audio(misnamed) == pytest.approx(12, abs=0.1)


def test_ctrl_c_during_decoding_is_never_lost(tmp_path: Path) -> None:
    """PyAV swallowed the exception of about one SIGINT in four, and decoding went on to the end
    (exit 0 after Ctrl-C). Signals at many moments of a decode all end it with Interrupted."""
    path = write_mp3(tmp_path / "long.mp3", speech_like(240, gaps=[]))
    for delay in (0.02, 0.05, 0.08, 0.11, 0.15, 0.2, 0.25, 0.3):
        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        with pytest.raises(Interrupted), handle_signals():
            timer.start()
            for _ in range(20):
                verify_audio(path)
        timer.join()
