"""Transcription figures for benchmark.py: real-time factor and peak RSS of the default model.

Episodes of solid speech (the four samples in ../shared/data/podcast/speech, repeated) are
encoded to MP3 once, then each is transcribed in a fresh process so its peak RSS is its own:
this project's way (streamed, 30-second chunks) and, for comparison, faster-whisper's own way of
reading a file (decoded whole by PyAV, then transcribed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
from faster_whisper import WhisperModel

# The package lives one folder up; a script puts only its own folder (benchmarks/) on sys.path.
PROJECT_DIR = Path(__file__).resolve().parents[1]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

# pylint: disable=wrong-import-position  # these need the path above
from podcasts.audio import SAMPLE_RATE, decode_stream
from podcasts.speech_to_text import DEFAULT_MODEL, load_model, resolve_model, transcribe_file

# pylint: enable=wrong-import-position

SPEECH_DIR = PROJECT_DIR.parents[1] / "shared" / "data" / "podcast" / "speech"
SAMPLES = ("economy", "story", "technology", "jfk")

# ru_maxrss survives fork and exec on Linux; a small wrapper process starts the measured one so
# that the figure is the measured process's own.
_MEASURE = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))\n"
)


def make_episode(path: Path, minutes: float, speech_dir: Path = SPEECH_DIR) -> Path:
    """Write ``minutes`` of solid speech (the samples in turn) as a 64 kbit/s mono MP3."""
    speech = np.concatenate([np.concatenate(list(decode_stream(speech_dir / f"{name}.mp3")))
                             for name in SAMPLES])
    total = int(minutes * 60 * SAMPLE_RATE)
    with av.open(str(path), "w", format="mp3") as output:
        stream = output.add_stream("libmp3lame", rate=SAMPLE_RATE, layout="mono")
        stream.bit_rate = 64_000
        for start in range(0, total, len(speech)):
            block = speech[: min(len(speech), total - start)]
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
            frame.rate = SAMPLE_RATE
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def _whole_file(model: WhisperModel, path: Path) -> float:
    """faster-whisper's own way: decode the whole file, then transcribe; return audio seconds."""
    pieces, info = model.transcribe(str(path), language="en", vad_filter=True,
                                    word_timestamps=True)
    for _ in pieces:
        pass
    return info.duration


def transcribe_one(mode: str, path: Path, threads: int, report: Path) -> None:
    """In the measured process: transcribe ``path`` the ``mode`` way; write timings to
    ``report``."""
    started = time.perf_counter()
    model = load_model(DEFAULT_MODEL, threads)
    loaded, cpu = time.perf_counter(), time.process_time()
    if mode == "chunked":
        audio_seconds = transcribe_file(model, path, DEFAULT_MODEL, show_progress=False
                                        ).audio_seconds
    else:
        audio_seconds = _whole_file(model, path)
    work = time.perf_counter() - loaded
    report.write_text(json.dumps({"audio_seconds": audio_seconds, "work_seconds": work,
                                  "cpu_seconds": time.process_time() - cpu,
                                  "load_seconds": loaded - started}), encoding="utf-8")


def measure(mode: str, path: Path, threads: int) -> dict[str, float]:
    """Transcribe ``path`` in a fresh process (this file run as a script); return its timings
    and peak RSS (MB)."""
    report = path.with_name(f"{path.stem}-{mode}.json")
    done = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, __file__,
                           mode, str(path), str(threads), str(report)],
                          cwd=PROJECT_DIR, check=True, capture_output=True, text=True)
    peak_kb, code = (int(x) for x in done.stdout.split()[-2:])
    if code != 0:
        raise RuntimeError(f"transcribe-one {mode} {path.name} exited {code}")
    figures = json.loads(report.read_text(encoding="utf-8"))
    return {**figures, "rtf": figures["work_seconds"] / figures["audio_seconds"],
            "cpu_rtf": figures["cpu_seconds"] / figures["audio_seconds"],
            "peak_rss_mb": peak_kb / 1024}


def transcription_section(minutes: list[float], whole_minutes: list[float], threads: int,
                          work: Path) -> list[str]:
    """Measure each episode length; return the BENCHMARKS.md section as lines."""
    rows = []
    for length in sorted(set(minutes) | set(whole_minutes)):
        episode = make_episode(work / f"speech-{length:g}min.mp3", length)
        for mode in ("chunked", "whole"):
            if length in (minutes if mode == "chunked" else whole_minutes):
                figures = measure(mode, episode, threads)
                rows.append((length, mode, figures))
                print(f"{length:g} min {mode}: {figures}", file=sys.stderr)
    model_dir, _ = resolve_model(DEFAULT_MODEL)
    size_mb = sum(p.stat().st_size for p in Path(model_dir).iterdir()) / 1e6
    names = {"chunked": "this project: streamed, 30 s chunks cut in quiet",
             "whole": "faster-whisper reading the file itself (decoded whole)"}
    return [
        f"## Transcription: default model (Whisper tiny.en, int8, {size_mb:.0f} MB), "
        f"{threads} CPU threads", "",
        "Solid speech (the four samples in `../shared/data/podcast/speech` in turn), one fresh "
        f"process per row; {os.cpu_count()} cores on this machine, shared with other work (load "
        f"average {os.getloadavg()[0]:.1f} at the end), so wall-clock timings vary from run to "
        "run by 20% or more. CPU seconds (all threads) per second of audio depend far less on "
        f"the load: on {threads} idle cores the real-time factor lies between that figure / "
        f"{threads} and that figure.", "",
        "| episode | how | real-time factor (wall clock) | CPU s per audio s | seconds of work "
        "| model load | peak RSS |",
        "|---|---|---|---|---|---|---|",
        *[f"| {length:g} min | {names[mode]} | {f['rtf']:.3f} | {f['cpu_rtf']:.3f} | "
          f"{f['work_seconds']:.0f} | {f['load_seconds']:.1f} s | {f['peak_rss_mb']:.0f} MB |"
          for length, mode, f in rows],
        "",
    ]


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description="One measured transcription (run by measure()).")
    _parser.add_argument("mode", choices=("chunked", "whole"))
    _parser.add_argument("mp3", type=Path)
    _parser.add_argument("threads", type=int)
    _parser.add_argument("report", type=Path)
    _args = _parser.parse_args()
    transcribe_one(_args.mode, _args.mp3, _args.threads, _args.report)
