"""How to play a search hit from its second: a command for a player on the PATH, or a URL.

``search --open N`` prints what :func:`play_command` returns, so that a shell can run it
(``$(podcast_pipeline.py search "rates" --open 1)``) or a person can copy it. A local player
(mpv, then ffplay) gets the downloaded file and the second; without one, the transcript page at
that cue opens in any browser; without a page, the enclosure URL with its media fragment.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any

from podcasts.search import media_time

# Each player: its program, then its arguments ({start} the second, {path} the file).
PLAYERS = (("mpv", "--start={start}", "{path}"),
           ("ffplay", "-nodisp", "-autoexit", "-ss", "{start}", "{path}"))


def play_command(hit: dict[str, Any]) -> str | None:
    """A shell command that plays ``hit`` from its ``start``, or a URL a browser opens at that
    moment; None when the hit has neither a file nor a URL."""
    if hit["audio_path"]:
        for program, *arguments in PLAYERS:
            if shutil.which(program):
                values = {"start": media_time(hit["start"]), "path": hit["audio_path"]}
                return shlex.join([program, *(a.format(**values) for a in arguments)])
    if hit["page"]:
        path, _, fragment = hit["page"].partition("#")
        return f"{Path(path).as_uri()}#{fragment}"
    return hit["audio_url"]
