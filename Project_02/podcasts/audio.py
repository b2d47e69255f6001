"""Decode an episode to 16 kHz mono and cut it into chunks of at most 30 s at quiet points.

Whisper hears 30 s at a time, and an hour of 16 kHz float samples is 230 MB (a 48-minute episode
decoded whole cost 3.2 GB of peak memory through the model): streaming the decoder and handing the
model one chunk at a time keeps memory flat whatever the episode's length. Chunks end at the
quietest 100 ms of their last half, so a cut rarely falls inside a word.

A truncated MP3 decodes without error, just shorter: :func:`check_duration` compares what was
decoded with what the file's header promises.

miniaudio reads MP3, FLAC, WAV and Vorbis; the other audio a feed may carry (``.m4a``/``.aac``,
``.opus``) is decoded by PyAV (FFmpeg), which faster-whisper itself depends on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import miniaudio
import numpy as np

from podcasts.errors import AudioDecodeError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # what Whisper expects
MAX_CHUNK_SECONDS = 30.0
QUIET_WINDOW_SECONDS = 0.1
READ_FRAMES = SAMPLE_RATE  # decode one second at a time
SHORT_TOLERANCE = (1.0, 0.01)  # a decode may fall short by 1 s plus 1% before it is an error
# PyAV is compiled, so pylint cannot see its members.
FFmpegError = av.error.FFmpegError  # pylint: disable=c-extension-no-member
MINIAUDIO_SUFFIXES = (".mp3", ".flac", ".wav", ".ogg")  # what miniaudio decodes; PyAV the rest


@dataclass(frozen=True)
class AudioChunk:
    """``samples`` (16 kHz mono float32) starting ``start`` seconds into the episode."""

    start: float
    samples: np.ndarray

    @property
    def seconds(self) -> float:
        """Length of the chunk in seconds."""
        return len(self.samples) / SAMPLE_RATE


def expected_seconds(path: Path) -> float:
    """Duration the file's header promises (an MP3's Xing/Info frame count when present; an
    MP4's or Ogg's container duration).

    Raises:
        AudioDecodeError: the file is not audio miniaudio can read (MP3, FLAC, WAV, Vorbis).
    """
    try:
        if by_miniaudio(path):
            return float(miniaudio.get_file_info(str(path)).duration)
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path.name}: not a readable audio file "
                                       "(no audio stream)")
            return (container.duration or 0) / av.time_base  # 0 (nothing promised) if unknown
    except (miniaudio.MiniaudioError, FFmpegError) as exc:
        raise AudioDecodeError(f"{path.name}: not a readable audio file ({reason(exc)})") from exc


def by_miniaudio(path: Path) -> bool:
    """Whether miniaudio decodes ``path`` (by its suffix, as miniaudio decides); else PyAV."""
    return path.suffix.lower() in MINIAUDIO_SUFFIXES


def check_duration(name: str, decoded: float, expected: float) -> None:
    """Raise :class:`AudioDecodeError` when ``decoded`` seconds fall short of ``expected``."""
    if decoded == 0:
        raise AudioDecodeError(f"{name}: no audio in the file")
    absolute, relative = SHORT_TOLERANCE
    if decoded < expected - absolute - relative * expected:
        raise AudioDecodeError(
            f"{name}: decoded {decoded:.1f} s of the {expected:.1f} s its header promises "
            "(truncated or corrupt file)")


def verify_audio(path: Path) -> float:
    """Decode the whole file once, keeping nothing, and check it against its header; return its
    length in seconds. This costs about 10 s per hour of 128 kbit/s stereo MP3 here (a few
    percent of transcribing it) and finds a truncated file before minutes go into transcribing it.

    Raises:
        AudioDecodeError: unreadable, empty, or shorter than its header promises.
    """
    expected = expected_seconds(path)
    decoded = sum(len(block) for block in decode_stream(path)) / SAMPLE_RATE
    check_duration(path.name, decoded, expected)
    return decoded


def decode_stream(path: Path) -> Iterator[np.ndarray]:
    """Yield the file's audio as 16 kHz mono float32 blocks of about one second.

    Raises:
        AudioDecodeError: the decoder cannot read the file.
    """
    if not by_miniaudio(path):
        yield from _pyav_stream(path)
        return
    try:
        stream = miniaudio.stream_file(str(path), output_format=miniaudio.SampleFormat.FLOAT32,
                                       nchannels=1, sample_rate=SAMPLE_RATE,
                                       frames_to_read=READ_FRAMES)
        for block in iter(stream):  # a primed generator, which pylint cannot see through
            yield np.frombuffer(block, dtype=np.float32)
    except miniaudio.MiniaudioError as exc:
        raise AudioDecodeError(f"{path.name}: cannot decode ({exc})") from exc


def _pyav_stream(path: Path) -> Iterator[np.ndarray]:
    """:func:`decode_stream` for what miniaudio cannot read: PyAV, one codec frame at a time."""
    try:
        with av.open(str(path)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for block in resampler.resample(frame):
                    yield block.to_ndarray().reshape(-1)
            for block in resampler.resample(None):
                yield block.to_ndarray().reshape(-1)
    except FFmpegError as exc:
        raise AudioDecodeError(f"{path.name}: cannot decode ({reason(exc)})") from exc


def reason(exc: Exception) -> str:
    """A decoder's error without the file's path (FFmpeg's messages end with it)."""
    return (exc.strerror if isinstance(exc, FFmpegError) else "") or str(exc)


def quiet_cut(samples: np.ndarray, window: int, earliest: int) -> int:
    """Index in ``samples[earliest:]`` at the middle of its quietest ``window``-long stretch.

    Ties go to the latest stretch, so chunks stay as long as allowed.
    """
    tail = samples[earliest:]
    count = len(tail) // window
    if count == 0:
        return len(samples)
    energy = np.square(tail[: count * window].reshape(count, window)).mean(axis=1)
    quietest = count - 1 - int(np.argmin(energy[::-1]))
    return earliest + quietest * window + window // 2


def chunk_audio(blocks: Iterator[np.ndarray],
                max_seconds: float = MAX_CHUNK_SECONDS) -> Iterator[AudioChunk]:
    """Group decoded ``blocks`` into chunks of at most ``max_seconds``, cut at quiet points.

    At most one chunk and one block are held at a time.
    """
    limit = int(max_seconds * SAMPLE_RATE)
    window = int(QUIET_WINDOW_SECONDS * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    held, position = 0, 0
    for block in blocks:
        pending.append(block)
        held += len(block)
        while held >= limit:
            buffer = np.concatenate(pending)
            cut = quiet_cut(buffer[:limit], window, earliest=limit // 2)
            yield AudioChunk(position / SAMPLE_RATE, buffer[:cut])
            position += cut
            pending, held = [buffer[cut:]], len(buffer) - cut
    if held:
        yield AudioChunk(position / SAMPLE_RATE, np.concatenate(pending))


def episode_chunks(path: Path, max_seconds: float = MAX_CHUNK_SECONDS,
                   expected: float | None = None) -> Iterator[AudioChunk]:
    """Decode ``path`` chunk by chunk; after the last, check that none of the ``expected``
    seconds (default: what the header promises) was missing.

    Raises:
        AudioDecodeError: unreadable file, or fewer seconds decoded than its header promises
            (raised after the last chunk, since a truncated MP3 decodes without error).
    """
    expected = expected_seconds(path) if expected is None else expected
    decoded = 0.0
    for chunk in chunk_audio(decode_stream(path), max_seconds):
        decoded += chunk.seconds
        yield chunk
    check_duration(path.name, decoded, expected)
    logger.debug("Decoded %s: %.1f s (header: %.1f s)", path.name, decoded, expected)
