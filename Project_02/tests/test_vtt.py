"""WebVTT: timestamps and cues as players read them."""

from __future__ import annotations

import pytest

from podcasts.speech_to_text import Segment
from podcasts.vtt import render_vtt, vtt_timestamp


@pytest.mark.parametrize(("seconds", "stamp"), [
    (0, "00:00:00.000"), (8.02, "00:00:08.020"), (3661.5, "01:01:01.500"),
    (59.9996, "00:01:00.000"), (-1, "00:00:00.000"), (100 * 3600, "100:00:00.000")])
def test_vtt_timestamps(seconds: float, stamp: str) -> None:
    """hh:mm:ss.mmm, rounded to the millisecond, never negative."""
    assert vtt_timestamp(seconds) == stamp



def test_vtt_document() -> None:
    """A header, then one cue per segment; markup characters escaped; silence is just a header."""
    assert render_vtt([Segment(0.0, 2.0, "a <b> & c --> d", ())]) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\na &lt;b&gt; &amp; c --&gt; d\n")
    assert render_vtt([]) == "WEBVTT\n"
