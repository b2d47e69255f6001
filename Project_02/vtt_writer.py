"""WebVTT transcripts (what players and Podcasting 2.0 ``<podcast:transcript>`` read), written
atomically: a unique temporary file in the same folder, renamed over the target only when complete.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from transcriber import Segment

TEMPORARY_SUFFIX = ".tmp"
STALE_AFTER = 600.0  # seconds: a write takes milliseconds, so an older temporary file is litter


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


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path``: readers see the old file or the whole new one, never a part.

    The temporary file has a unique name (two writers never share one) and is removed if anything,
    Ctrl-C included, interrupts the write.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as output:
            output.write(text)
            output.flush()
            os.fsync(output.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: Path, older_than: float = STALE_AFTER) -> list[Path]:
    """Delete the temporary .vtt files a killed process (``kill -9``) left in ``folder``.

    Only files untouched for ``older_than`` seconds go, so a write in progress elsewhere (another
    run, an Airflow task) keeps its file. Returns what was removed.
    """
    cutoff = time.time() - older_than
    stale = []
    for path in folder.glob(f".*.vtt.*{TEMPORARY_SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                stale.append(path)
        except FileNotFoundError:
            continue  # its writer renamed it (or another run removed it) since the listing
    return stale
