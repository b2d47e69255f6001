"""Get the heart-disease data: the UCI archive (converted) or a CSV in the 918-row Kaggle schema.

The UCI Heart Disease archive holds four ``processed.*.data`` files (Cleveland, Hungary,
Switzerland, Long Beach VA) with 14 coded columns and ``?`` for a missing value. They are converted
to the 11-feature schema of the widely used 918-row CSV, keeping missing values missing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.util.retry import Retry

from heart.config import DataSource
from heart.errors import DataSourceError
from heart.files import commit, file_lock, new_partial, remove_partials

logger = logging.getLogger(__name__)

TARGET = "HeartDisease"
NUMERIC = ["Age", "RestingBP", "Cholesterol", "FastingBS", "MaxHR", "Oldpeak"]
CATEGORICAL = ["Sex", "ChestPainType", "RestingECG", "ExerciseAngina", "ST_Slope"]
COLUMNS = ["Age", "Sex", "ChestPainType", "RestingBP", "Cholesterol", "FastingBS", "RestingECG",
           "MaxHR", "ExerciseAngina", "Oldpeak", "ST_Slope", TARGET]
UCI_FILES = ["processed.cleveland.data", "processed.hungarian.data",
             "processed.switzerland.data", "processed.va.data"]
UCI_COHORTS = {"processed.cleveland.data": "Cleveland", "processed.hungarian.data": "Hungary",
               "processed.switzerland.data": "Switzerland", "processed.va.data": "Long Beach VA"}
UCI_COLUMNS = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang",
               "oldpeak", "slope", "ca", "thal", "num"]
UCI_CODES = {
    "sex": {0: "F", 1: "M"},
    "cp": {1: "TA", 2: "ATA", 3: "NAP", 4: "ASY"},
    "restecg": {0: "Normal", 1: "ST", 2: "LVH"},
    "exang": {0: "N", 1: "Y"},
    "slope": {1: "Up", 2: "Flat", 3: "Down"},
}
TIMEOUT = (10, 60)
LOCK_TIMEOUT = 600  # one download of a few hundred kB, even on a slow link


def make_session(retries: int = 4, backoff: float = 0.5) -> requests.Session:
    """A session that retries connection errors and 429/5xx responses with backoff."""
    retry = Retry(total=retries, backoff_factor=backoff, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=frozenset({"GET"}), respect_retry_after_header=True)
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def _download(url: str, part: Path, session: requests.Session, label: str) -> None:
    """Stream ``url`` into ``part`` with a progress bar named ``label``."""
    with session.get(url, stream=True, timeout=TIMEOUT) as response:
        response.raise_for_status()
        total = int(response.headers.get("Content-Length", 0)) or None
        with open(part, "wb") as handle, tqdm(total=total, unit="B", unit_scale=True,
                                              desc=label, leave=False) as progress:
            for chunk in response.iter_content(1 << 16):
                handle.write(chunk)
                progress.update(len(chunk))


def fetch(url: str, target: Path, verify: Callable[[Path], None],
          session: requests.Session | None = None) -> Path:
    """Download ``url`` to ``target`` unless a verified copy is cached; return ``target``.

    The download goes to a temporary file of its own under the cache's lock (so two runs never
    share one), and only a file that passes ``verify`` is renamed into the cache. A cached file that
    fails ``verify`` (a captive portal's HTML page cached by an older version) is downloaded again.

    Raises:
        DataSourceError: the download failed or what arrived is not the expected data.
    """
    if target.parent.exists() and not target.parent.is_dir():
        raise DataSourceError(f"the data cache {target.parent} is a file, not a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(target.with_name(target.name + ".lock"), LOCK_TIMEOUT):
            remove_partials(target.parent)
            if target.is_file():
                try:
                    verify(target)
                    logger.info("Using cached %s", target)
                    return target
                except DataSourceError as exc:
                    logger.warning("Cached %s is unusable (%s); downloading it again", target, exc)
                    target.unlink()
            part = new_partial(target)
            try:
                _download(url, part, session or make_session(), target.name)
                verify(part)
                commit(part, target)
            finally:
                part.unlink(missing_ok=True)
    except requests.RequestException as exc:
        raise DataSourceError(f"could not download {url}: {exc}; pass a local CSV with "
                              "--data-path or set HEART_DATA_URL to a mirror") from exc
    except DataSourceError as exc:
        raise DataSourceError(f"{url} did not send the UCI archive: {exc}; nothing was cached. "
                              "Check HEART_DATA_URL (a login page or proxy may have answered) "
                              "or pass a local CSV with --data-path") from exc
    except OSError as exc:
        raise DataSourceError(f"cannot write the data cache {target.parent}: "
                              f"{exc.strerror or exc}") from exc
    logger.info("Downloaded %s (%d bytes)", target.name, target.stat().st_size)
    return target


def verify_uci_archive(path: Path, sha256: str | None = None) -> None:
    """Raise DataSourceError unless ``path`` is an intact zip holding the four UCI files.

    ``sha256`` (e.g. from $HEART_DATA_SHA256), when given, must match the file's digest too.
    """
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[:4] != b"PK\x03\x04":
        kind = "an HTML page" if b"<html" in head.lower() or b"<!doctype" in head.lower() else (
            "not a zip archive")
        raise DataSourceError(f"it is {kind} ({path.stat().st_size} bytes)")
    try:
        with zipfile.ZipFile(path) as bundle:
            broken = bundle.testzip()
            names = {Path(n).name for n in bundle.namelist()}
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DataSourceError(f"it is a damaged zip archive ({exc})") from exc
    if broken is not None:
        raise DataSourceError(f"its member {broken} is damaged")
    missing = [f for f in UCI_FILES if f not in names]
    if missing:
        raise DataSourceError(f"the zip archive lacks {', '.join(missing)}")
    if sha256:
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if digest != sha256.lower():
            raise DataSourceError(f"its SHA-256 is {digest}, expected {sha256}")


def _decode(codes: pd.Series, names: dict[int, str]) -> pd.Series:
    """Coded values as their names; a code without a name is kept as it is, for the data checks
    to refuse (mapped to missing, a damaged file's codes would train silently as "not recorded")."""
    return codes.map(lambda code: names.get(code, code))


def _label(num: pd.Series) -> pd.Series:
    """``num > 0`` as 1.0/0.0; a missing ``num`` stays missing (the checks drop the row, with a
    warning) and text stays text (refused), rather than counting as "no heart disease"."""
    numbers = pd.to_numeric(num, errors="coerce")
    return numbers.gt(0).astype(float).where(numbers.notna(), num)


def convert_uci(frame: pd.DataFrame) -> pd.DataFrame:
    """Convert coded UCI columns to the 918-row CSV's schema; missing values stay missing."""
    out = pd.DataFrame({
        "Age": frame["age"],
        "Sex": _decode(frame["sex"], UCI_CODES["sex"]),
        "ChestPainType": _decode(frame["cp"], UCI_CODES["cp"]),
        "RestingBP": frame["trestbps"],
        "Cholesterol": frame["chol"],
        "FastingBS": frame["fbs"],
        "RestingECG": _decode(frame["restecg"], UCI_CODES["restecg"]),
        "MaxHR": frame["thalach"],
        "ExerciseAngina": _decode(frame["exang"], UCI_CODES["exang"]),
        "Oldpeak": frame["oldpeak"],
        "ST_Slope": _decode(frame["slope"], UCI_CODES["slope"]),
        TARGET: _label(frame["num"]),
    })
    return out[COLUMNS]


def read_uci_archive(archive: Path) -> pd.DataFrame:
    """Read and convert the four processed.*.data files of the UCI zip."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            names = {Path(n).name: n for n in bundle.namelist()}
            missing = [f for f in UCI_FILES if f not in names]
            if missing:
                raise DataSourceError(f"{archive.name} lacks {', '.join(missing)}")
            frames = [pd.read_csv(io.BytesIO(bundle.read(names[f])), header=None,
                                  names=UCI_COLUMNS, na_values="?") for f in UCI_FILES]
    except zipfile.BadZipFile as exc:
        raise DataSourceError(f"{archive.name} is not a valid zip archive") from exc
    converted = convert_uci(pd.concat(frames, ignore_index=True))
    converted.attrs["cohorts"] = {UCI_COHORTS[name]: len(frame)
                                  for name, frame in zip(UCI_FILES, frames)}
    return converted


def sniff_format(payload: bytes) -> str:
    """Name the format of a file from its first bytes: xlsx/zip, parquet, json, html or csv."""
    head = payload[:8].lstrip()
    if payload[:200].lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "an HTML page (a login page or proxy may have answered)"
    if payload[:4] == b"PK\x03\x04":
        return "XLSX" if b"[Content_Types].xml" in payload[:2000] or b"xl/" in payload else "ZIP"
    if payload[:4] == b"PAR1":
        return "Parquet"
    if head[:1] in (b"{", b"["):
        return "JSON"
    if b"\x00" in payload[:1024]:
        return "binary"
    return "CSV"


def refuse_damaged_rows(payload: bytes, source: str) -> None:
    """Refuse a repeated column, a repeated header and a row with more or fewer values than it.

    pandas reads a repeated ``Age`` as ``Age`` and ``Age.1`` and fills a short row with missing
    values: a file cut off mid-row (an interrupted copy or download) would train as if whole.

    Raises:
        DataSourceError: naming the column, or the line and its count of values.
    """
    rows = csv.reader(io.StringIO(payload.decode("utf-8-sig")))
    header = next(rows, [])
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataSourceError(f"{source}: column {repeated[0]} appears more than once")
    for row in rows:
        if row == header:
            raise DataSourceError(f"{source}: line {rows.line_num} repeats the header (two files "
                                  "joined into one?)")
        if row and len(row) != len(header):  # blank lines are skipped, as pandas does
            raise DataSourceError(
                f"{source}: line {rows.line_num} has {len(row)} values for the header's "
                f"{len(header)} columns (a truncated or damaged file)")


def read_csv_source(source: str) -> tuple[pd.DataFrame, str]:
    """Read a CSV in the 918-row schema from a local path or an http(s) URL; also its SHA-256."""
    if urlparse(source).scheme in ("http", "https"):
        try:
            response = make_session().get(source, timeout=TIMEOUT)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise DataSourceError(f"could not download {source}: {exc}") from exc
        payload = response.content
    else:
        path = Path(source)
        if path.is_dir():
            raise DataSourceError(f"{source} is a folder; expected a CSV file")
        if not path.is_file():
            raise DataSourceError(f"{source} does not exist")
        payload = path.read_bytes()
    kind = sniff_format(payload)
    if kind != "CSV":
        raise DataSourceError(f"{source} looks like {kind}, expected a CSV file with columns "
                              f"{','.join(COLUMNS)}")
    try:
        frame = pd.read_csv(io.BytesIO(payload))
        refuse_damaged_rows(payload, source)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            csv.Error) as exc:
        raise DataSourceError(f"{source} is not a readable CSV: {exc}") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataSourceError(f"{source} has columns {list(frame.columns)}; expected {COLUMNS} "
                              f"(missing: {', '.join(missing)})")
    return frame[COLUMNS], hashlib.sha256(payload).hexdigest()


def load_data(source: DataSource) -> tuple[pd.DataFrame, str]:
    """Return the raw data and a SHA-256 of the bytes it came from.

    Without ``source.path`` the UCI archive is downloaded from ``source.url`` into
    ``source.cache_dir`` (verified, and checked against ``source.sha256`` when one is given).
    """
    if source.path:
        frame, digest = read_csv_source(source.path)
    else:
        name = Path(urlparse(source.url).path).name or "heart-disease.zip"
        archive = fetch(source.url, source.cache_dir / name,
                        verify=lambda path: verify_uci_archive(path, source.sha256))
        frame = read_uci_archive(archive)
        with open(archive, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    logger.info("Loaded %d rows (sha256 %s)", len(frame), digest[:12])
    return frame, digest
