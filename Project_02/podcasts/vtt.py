"""WebVTT, the transcript format players and Podcasting 2.0's ``<podcast:transcript>`` read."""

from __future__ import annotations

from collections.abc import Iterable

from podcasts.speech_to_text import Segment


def vtt_timestamp(seconds: float) -> str:
    """``seconds`` as WebVTT's ``hh:mm:ss.mmm``."""
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def cue_text(text: str) -> str:
    """Escape text for a cue: ``&``, ``<`` and ``>`` are markup (and ``-->`` ends a timing)."""
    return " ".join(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").split())


def render_vtt(segments: Iterable[Segment]) -> str:
    """A WebVTT document with one cue per segment (just the header when nothing was said)."""
    cues = [f"{vtt_timestamp(s.start)} --> {vtt_timestamp(max(s.end, s.start))}\n{cue_text(s.text)}"
            for s in segments]
    return "\n\n".join(["WEBVTT", *cues]) + "\n"
