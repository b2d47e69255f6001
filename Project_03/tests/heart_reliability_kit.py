"""Helpers for the reliability tests: the CLI in a real subprocess, and a tiny UCI archive."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from heart.artifacts import read_manifest, sha256
from heart.data import UCI_FILES

CLI = Path(__file__).resolve().parents[1] / "heart_disease.py"
QUICK_TRAIN = ("--model", "logistic_regression", "--no-tracking", "--log-level", "INFO")
SLOW_TRAIN = ("--model", "random_forest", "--tuning", "--search", "random", "--n-trials", "200",
              "--no-tracking", "--log-level", "INFO")


def uci_zip_bytes(patients: pd.DataFrame, members: tuple[str, ...] = tuple(UCI_FILES)) -> bytes:
    """A zip shaped like the UCI archive: ``patients`` coded and split over ``members``."""
    coded = pd.DataFrame({
        "age": patients["Age"], "sex": (patients["Sex"] == "M").astype(int),
        "cp": patients["ChestPainType"].map({"TA": 1, "ATA": 2, "NAP": 3, "ASY": 4}),
        "trestbps": patients["RestingBP"], "chol": patients["Cholesterol"],
        "fbs": patients["FastingBS"],
        "restecg": patients["RestingECG"].map({"Normal": 0, "ST": 1, "LVH": 2}),
        "thalach": patients["MaxHR"], "exang": (patients["ExerciseAngina"] == "Y").astype(int),
        "oldpeak": patients["Oldpeak"],
        "slope": patients["ST_Slope"].map({"Up": 1, "Flat": 2, "Down": 3}),
        "ca": "?", "thal": "?", "num": patients["HeartDisease"] * 2,
    })
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, member in enumerate(members):
            part = coded.iloc[index::len(members)]
            archive.writestr(member, part.to_csv(header=False, index=False))
    return buffer.getvalue()


class CliProcess:
    """``heart_disease.py`` in a subprocess (own process group); stderr collected as it comes."""

    def __init__(self, *args: str | Path, cwd: Path | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with  # waited in .wait
            [sys.executable, str(CLI), *map(str, args)], cwd=cwd, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        """Everything the process wrote to stderr so far."""
        return "".join(self.lines)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 120) -> None:
        """Poll ``condition`` every 10 ms until it holds; fail if the process ends first."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode} first:\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"still waiting after {timeout} s:\n{self.stderr}")
            time.sleep(0.01)

    def wait(self, timeout: float = 300) -> int:
        """Wait for the exit; return the exit code (stderr fully read)."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def starting_worker(self) -> bool:
        """Whether the CLI has started a joblib (loky) worker process (Linux ``/proc``)."""
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            try:
                children = (task / "children").read_text(encoding="ascii").split()
                if any(b"popen_loky_posix" in Path(f"/proc/{child}/cmdline").read_bytes()
                       for child in children):
                    return True
            except OSError:  # the task or the child has just ended
                continue
        return False

    def group_alive(self) -> bool:
        """Whether any process of its group (the CLI or a worker it started) is still running."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True


def error_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that start with ``error:``."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file in ``folder``."""
    return {p.name: sha256(p) for p in folder.iterdir() if p.is_file()}


def consistent(folder: Path) -> bool:
    """The manifest lists every artifact with the digest of the file now in the folder."""
    manifest = read_manifest(folder)
    return manifest is not None and all(
        sha256(folder / name) == digest for name, digest in manifest["files"].items())


def workers_end(run: CliProcess, seconds: float = 5.0) -> bool:
    """Whether the process group of ``run`` is gone within ``seconds``."""
    deadline = time.monotonic() + seconds
    while run.group_alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
