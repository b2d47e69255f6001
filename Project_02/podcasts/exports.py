"""The transcript beside the audio, in the formats asked for: WebVTT (always: players and the
transcript page read it), SubRip ``.srt`` (video editors, subtitle tools) and plain ``.txt``.

Each file is written atomically under the audio's stem (``episode.mp3`` → ``episode.srt``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from podcasts.files import atomic_write
from podcasts.vtt import Cue, render_vtt, vtt_timestamp

DEFAULT_FORMATS = ("vtt",)


def srt_timestamp(seconds: float) -> str:
    """``seconds`` as SubRip's ``hh:mm:ss,mmm`` (a comma before the milliseconds)."""
    return vtt_timestamp(seconds).replace(".", ",")


def render_srt(segments: Iterable[Cue]) -> str:
    """A SubRip document: numbered cues from 1, each with its timing and one line of text.

    A segment with no text is left out (SubRip has no empty cue); the numbers stay consecutive.
    """
    cues = [s for s in segments if s.text.strip()]
    return "".join(f"{n}\n{srt_timestamp(s.start)} --> {srt_timestamp(max(s.end, s.start))}\n"
                   f"{' '.join(s.text.split())}\n\n" for n, s in enumerate(cues, start=1))


def render_txt(segments: Iterable[Cue]) -> str:
    """Plain text: one line per segment, nothing else."""
    return "".join(f"{line}\n" for line in (" ".join(s.text.split()) for s in segments) if line)


RENDERERS: dict[str, Callable[[Iterable[Cue]], str]] = {
    "vtt": render_vtt, "srt": render_srt, "txt": render_txt}


def transcript_path(audio: Path, kind: str) -> Path:
    """Where the ``kind`` transcript of ``audio`` goes: beside it, same stem."""
    return audio.with_suffix(f".{kind}")


def write_transcripts(audio: Path, segments: Sequence[Cue],
                      formats: Sequence[str]) -> list[Path]:
    """Write the transcript of ``audio`` in each of ``formats``; return the files written.

    Raises:
        FileWriteError: a file cannot be written (a full disk); no partial file is left.
    """
    written = []
    for kind in formats:
        target = transcript_path(audio, kind)
        with atomic_write(target) as stream:
            stream.write(RENDERERS[kind](segments).encode("utf-8"))
        written.append(target)
    return written
