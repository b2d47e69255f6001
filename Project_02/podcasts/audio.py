"""Decode an episode to 16 kHz mono and cut it into chunks of at most 30 s at quiet points.

Whisper hears 30 s at a time, and an hour of 16 kHz float samples is 230 MB (a 48-minute episode
decoded whole cost 3.2 GB of peak memory through the model): streaming the decoder and handing the
model one chunk at a time keeps memory flat whatever the episode's length. Chunks end at the
quietest 100 ms of their last half, so a cut rarely falls inside a word.

PyAV (FFmpeg, which faster-whisper itself depends on) decodes every format a feed carries. The
container is told by the file's first bytes (:func:`sniff_format`), not by its name, which comes
from a URL or a feed that may be wrong. Every frame is decoded: several MP3s joined into one file
(as dynamic ad insertion produces) hold more audio than the first one's header says, and a
damaged packet is skipped, not the rest of the file.

A truncated file decodes without error, just shorter: :func:`check_duration` compares what was
decoded with what the header promises, and with what the file's size holds at its bit rate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from podcasts.errors import AudioDecodeError
from podcasts.signals import check_interrupted

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # what Whisper expects
MAX_CHUNK_SECONDS = 30.0
QUIET_WINDOW_SECONDS = 0.1
SHORT_TOLERANCE = (1.0, 0.01)  # a decode may fall short by 1 s plus 1% before it is an error
# The size-based estimate trusts the first frame's bit rate (a VBR file varies): only a decode
# under half of it is an error.
SIZE_TOLERANCE = 0.5
MAX_BAD_PACKETS = (10, 0.01)  # damaged packets skipped: more than 10 and 1% is a broken file
# PyAV is compiled, so pylint cannot see its members.
FFmpegError = av.error.FFmpegError  # pylint: disable=c-extension-no-member
InvalidDataError = av.error.InvalidDataError  # pylint: disable=c-extension-no-member
MAGIC = ((b"ID3", "mp3"), (b"OggS", "ogg"), (b"fLaC", "flac"), (b"RIFF", "wav"))


@dataclass(frozen=True)
class AudioChunk:
    """``samples`` (16 kHz mono float32) starting ``start`` seconds into the episode."""

    start: float
    samples: np.ndarray

    @property
    def seconds(self) -> float:
        """Length of the chunk in seconds."""
        return len(self.samples) / SAMPLE_RATE


@dataclass(frozen=True)
class Promise:
    """How long a file should play: by its header, and by its size at its bit rate (0: unknown)."""

    header: float
    by_size: float


def sniff_format(head: bytes) -> str | None:
    """The FFmpeg container a file's first bytes name (MP3, MP4/M4A, Ogg, FLAC, WAV, ADTS AAC);
    None when they name none (FFmpeg then probes the file itself)."""
    if head[4:8] == b"ftyp":
        return "mp4"
    for magic, container in MAGIC:
        if head.startswith(magic):
            return container
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG frame sync
        return "aac" if head[1] & 0x06 == 0 else "mp3"  # layer bits 00: an ADTS AAC stream
    return None


def open_audio(path: Path) -> av.container.InputContainer:
    """Open ``path`` with the demuxer its first bytes name.

    Raises:
        AudioDecodeError: not a readable audio file.
    """
    with open(path, "rb") as handle:
        container = sniff_format(handle.read(12))
    try:
        return av.open(str(path), format=container)
    except FFmpegError as exc:
        raise AudioDecodeError(f"{path.name}: not a readable audio file ({reason(exc)})") from exc


def _tag_bytes(path: Path) -> int:
    """The size of an ID3v2 tag at the start of ``path`` (cover art can be most of a file)."""
    with open(path, "rb") as handle:
        head = handle.read(10)
    if not head.startswith(b"ID3") or len(head) < 10:
        return 0
    return 10 + sum((byte & 0x7F) << (7 * (3 - n)) for n, byte in enumerate(head[6:10]))


def expected_seconds(path: Path) -> Promise:
    """How long ``path`` should play: its header's duration, and its size at its bit rate.

    Raises:
        AudioDecodeError: not a readable audio file (or no audio stream in it).
    """
    with open_audio(path) as container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{path.name}: not a readable audio file (no audio stream)")
        bit_rate = container.streams.audio[0].bit_rate or 0
        header = (container.duration or 0) / av.time_base  # 0 (nothing promised) if unknown
    audio_bytes = path.stat().st_size - _tag_bytes(path)
    return Promise(header, audio_bytes * 8 / bit_rate if bit_rate else 0.0)


def check_duration(name: str, decoded: float, expected: Promise) -> None:
    """Raise :class:`AudioDecodeError` when ``decoded`` seconds fall short of ``expected``."""
    if decoded == 0:
        raise AudioDecodeError(f"{name}: no audio in the file")
    absolute, relative = SHORT_TOLERANCE
    if decoded < expected.header - absolute - relative * expected.header:
        raise AudioDecodeError(
            f"{name}: decoded {decoded:.1f} s of the {expected.header:.1f} s its header promises "
            "(truncated or corrupt file)")
    if decoded < SIZE_TOLERANCE * expected.by_size:
        raise AudioDecodeError(
            f"{name}: decoded {decoded:.1f} s where its size at its bit rate holds about "
            f"{expected.by_size:.0f} s (a decoder stopped early, or a corrupt file)")


def verify_audio(path: Path) -> float:
    """Decode the whole file once, keeping nothing, and check it against its header and size;
    return its length in seconds. This costs about 10 s per hour of 128 kbit/s stereo MP3 here (a
    few percent of transcribing it) and finds a truncated file before minutes go into
    transcribing it.

    Raises:
        AudioDecodeError: unreadable, empty, or shorter than its header or size promises.
    """
    expected = expected_seconds(path)
    decoded = sum(len(block) for block in decode_stream(path)) / SAMPLE_RATE
    check_duration(path.name, decoded, expected)
    return decoded


def decode_stream(path: Path) -> Iterator[np.ndarray]:
    """Yield the file's audio as 16 kHz mono float32 blocks, one codec frame at a time.

    Raises:
        AudioDecodeError: the file cannot be read, or too many of its packets are damaged.
    """
    packets = bad = 0
    try:
        with open_audio(path) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path.name}: not a readable audio file (no audio stream)")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for packet in container.demux(container.streams.audio[0]):
                check_interrupted()  # PyAV can swallow the exception of a Ctrl-C
                packets += 1
                try:
                    frames = packet.decode()
                except InvalidDataError:  # a damaged frame, or a joined file's second ID3 tag
                    bad += 1
                    continue
                for frame in frames:
                    for block in resampler.resample(frame):
                        yield block.to_ndarray().reshape(-1)
            for block in resampler.resample(None):
                yield block.to_ndarray().reshape(-1)
    except FFmpegError as exc:
        raise AudioDecodeError(f"{path.name}: cannot decode ({reason(exc)})") from exc
    most, share = MAX_BAD_PACKETS
    if bad > most and bad > share * packets:
        raise AudioDecodeError(f"{path.name}: {bad} of {packets} packets are damaged")
    if bad:
        logger.info("%s: skipped %d damaged packet(s) of %d", path.name, bad, packets)


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
                   expected: Promise | None = None) -> Iterator[AudioChunk]:
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
    logger.debug("Decoded %s: %.1f s (header: %.1f s)", path.name, decoded, expected.header)
