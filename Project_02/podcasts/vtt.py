"""WebVTT, the transcript format players and Podcasting 2.0's ``<podcast:transcript>`` read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class Cue(Protocol):
    """What a transcript file needs of a segment (a :class:`speech_to_text.Segment`, a row)."""

    @property
    def start(self) -> float:
        """Seconds from the start of the episode."""

    @property
    def end(self) -> float:
        """Seconds from the start of the episode."""

    @property
    def text(self) -> str:
        """What was said."""


@dataclass(frozen=True)
class TimedText:
    """A stored segment's timing and text, without its words: a :class:`Cue`."""

    start: float
    end: float
    text: str


def vtt_timestamp(seconds: float) -> str:
    """``seconds`` as WebVTT's ``hh:mm:ss.mmm``."""
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def cue_text(text: str) -> str:
    """Escape text for a cue: ``&``, ``<`` and ``>`` are markup (and ``-->`` ends a timing)."""
    return " ".join(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").split())


def render_vtt(segments: Iterable[Cue]) -> str:
    """A WebVTT document with one cue per segment (just the header when nothing was said)."""
    cues = [f"{vtt_timestamp(s.start)} --> {vtt_timestamp(max(s.end, s.start))}\n{cue_text(s.text)}"
            for s in segments]
    return "\n\n".join(["WEBVTT", *cues]) + "\n"
