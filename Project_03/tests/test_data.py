"""Getting the data: the UCI conversion and download, the cache, format detection."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from heart_reliability_kit import uci_zip_bytes
from pytest_httpserver import HTTPServer
from werkzeug import Response

from heart.checks import check_data
from heart.config import DataSource
from heart.data import COLUMNS, UCI_FILES, convert_uci, load_data, read_csv_source
from heart.errors import DataSourceError, DataValidationError


def test_convert_uci_maps_codes_and_keeps_missing_values() -> None:
    """Coded UCI rows become the 918-row schema; '?' (NaN) stays missing; num > 0 is disease."""
    raw = pd.DataFrame([[63, 1, 4, 145, 233, 1, 2, 150, 0, 2.3, 3, 0, 6, 2],
                        [41, 0, 2, 130, np.nan, 0, 0, 172, 1, 1.4, np.nan, 0, 3, 0]],
                       columns=["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg",
                                "thalach", "exang", "oldpeak", "slope", "ca", "thal", "num"])
    converted = convert_uci(raw)
    assert list(converted.columns) == COLUMNS
    assert converted.iloc[0][["Sex", "ChestPainType", "RestingECG", "ExerciseAngina",
                              "ST_Slope", "HeartDisease"]].tolist() == ["M", "ASY", "LVH", "N",
                                                                         "Down", 1]
    assert converted.iloc[1]["Sex"] == "F" and converted.iloc[1]["HeartDisease"] == 0
    assert pd.isna(converted.iloc[1]["Cholesterol"]) and pd.isna(converted.iloc[1]["ST_Slope"])


def test_an_unknown_code_or_a_missing_label_in_the_uci_files_is_never_trained_on(
        patients: pd.DataFrame) -> None:
    """Regression: a chest-pain code 5 became a missing value (trained on as "not recorded"),
    and a missing ``num`` became "no heart disease"."""
    raw = pd.DataFrame([[63, 1, 5, 145, 233, 1, 2, 150, 0, 2.3, 3, 0, 6, 2],
                        [41, 0, 2, 130, 204, 0, 0, 172, 1, 1.4, 1, 0, 3, np.nan]],
                       columns=["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg",
                                "thalach", "exang", "oldpeak", "slope", "ca", "thal", "num"])
    converted = convert_uci(raw)
    assert converted.iloc[0]["ChestPainType"] == 5 and pd.isna(converted.iloc[1]["HeartDisease"])
    with pytest.raises(DataValidationError, match=r"ChestPainType has 1 value\(s\) outside"):
        check_data(pd.concat([patients, converted], ignore_index=True))
    clean, report = check_data(pd.concat([patients, converted.tail(1)], ignore_index=True))
    assert len(clean) == len(patients) and "1 row(s) without a label dropped" in report["warnings"]


@pytest.mark.realdata
def test_download_converts_the_real_uci_archive(httpserver: HTTPServer, uci_zip: bytes,
                                                tmp_path: Path) -> None:
    """The archive is downloaded from a loopback server, cached, and converted: 920 patients."""
    httpserver.expect_request("/static/public/45/heart+disease.zip").respond_with_data(uci_zip)
    url = httpserver.url_for("/static/public/45/heart+disease.zip")
    frame, digest = load_data(DataSource(url=url, cache_dir=tmp_path))
    assert len(frame) == 303 + 294 + 123 + 200
    assert frame["HeartDisease"].value_counts().to_dict() == {1: 509, 0: 411}
    assert frame["ST_Slope"].isna().sum() == 309
    again, same_digest = load_data(DataSource(url=url, cache_dir=tmp_path))
    assert len(httpserver.log) == 1 and same_digest == digest and len(again) == 920


def test_download_failure_names_the_offline_options(httpserver: HTTPServer, tmp_path: Path) -> None:
    """A 404 is a DataSourceError with the --data-path hint, and leaves no partial file."""
    httpserver.expect_request("/missing.zip").respond_with_data("gone", status=404)
    with pytest.raises(DataSourceError, match="--data-path"):
        load_data(DataSource(url=httpserver.url_for("/missing.zip"), cache_dir=tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == ["missing.zip.lock"]


def test_csv_over_http(httpserver: HTTPServer, patients: pd.DataFrame) -> None:
    """--data-path also takes an http(s) URL."""
    httpserver.expect_request("/heart.csv").respond_with_data(patients.to_csv(index=False))
    frame, _ = read_csv_source(httpserver.url_for("/heart.csv"))
    assert len(frame) == len(patients)


def _xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("payload", "found"),
    [(_xlsx_bytes(), "XLSX"), (b"PAR1\x15\x04\x15\x10PAR1", "Parquet"),
     (b'[{"Age": 40}]', "JSON"), (b"\x00\x01\x02binary", "binary")],
)
def test_what_if_the_csv_is_an_xlsx_or_parquet_file(tmp_path: Path, payload: bytes,
                                                    found: str) -> None:
    """A file in another format is named for what it is, with the expected schema."""
    path = tmp_path / "heart.csv"
    path.write_bytes(payload)
    with pytest.raises(DataSourceError, match=f"looks like {found}, expected a CSV file with "
                                              "columns Age,Sex"):
        read_csv_source(str(path))


def test_an_html_page_at_the_data_url_is_named_as_such(httpserver: HTTPServer) -> None:
    """Regression: a login page at --data-path was reported as a CSV with columns
    ['<!DOCTYPE HTML>']."""
    httpserver.expect_request("/heart.csv").respond_with_data(
        "<!DOCTYPE HTML>\n<html><body>Please log in</body></html>", content_type="text/html")
    with pytest.raises(DataSourceError, match="looks like an HTML page .a login page or proxy"):
        read_csv_source(httpserver.url_for("/heart.csv"))


def test_csv_with_other_columns_names_what_was_found(tmp_path: Path) -> None:
    """Wrong columns: the message lists both the found and the expected ones."""
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match=r"has columns \['a', 'b'\]; expected .*missing: Age"):
        read_csv_source(str(path))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda text: text[:text.rindex(",", 0, len(text) - 40)],  # cut off mid-row
     r"line 301 has \d+ values for the header's 12 columns \(a truncated or damaged file\)"),
    (lambda text: text + text,  # a file appended to itself, header and all
     "line 302 repeats the header"),
    (lambda text: text.replace("HeartDisease", "HeartDisease,Age", 1),
     "column Age appears more than once"),
])
def test_a_damaged_csv_is_refused_not_trained_on(tmp_path: Path, patients: pd.DataFrame,
                                                 damage, message: str) -> None:
    """Regression: a CSV cut off mid-row trained on the rows before the cut (the short row
    dropped as unlabelled, one warning), and pandas read a repeated Age as Age and Age.1."""
    path = tmp_path / "heart.csv"
    path.write_text(damage(patients.to_csv(index=False)), encoding="utf-8")
    with pytest.raises(DataSourceError, match=message):
        read_csv_source(str(path))


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is a clear error."""
    with pytest.raises(DataSourceError, match="does not exist"):
        read_csv_source(str(tmp_path / "nope.csv"))


def test_a_folder_given_as_data_is_named_a_folder(tmp_path: Path) -> None:
    """Not "does not exist": the path exists, it is a folder."""
    with pytest.raises(DataSourceError, match="is a folder; expected a CSV file"):
        read_csv_source(str(tmp_path))


def test_a_cache_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    """--cache-dir naming a file: a clear error, the file untouched."""
    (tmp_path / "cache").write_text("x", encoding="utf-8")
    with pytest.raises(DataSourceError, match="is a file, not a folder"):
        load_data(DataSource(url="http://127.0.0.1:9/heart+disease.zip",
                             cache_dir=tmp_path / "cache"))
    assert (tmp_path / "cache").read_text(encoding="utf-8") == "x"


PORTAL = b"<!DOCTYPE html><html><body>Please sign in to the hotel Wi-Fi</body></html>"


def _cache_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_a_captive_portal_page_is_not_cached(httpserver: HTTPServer, patients: pd.DataFrame,
                                             tmp_path: Path) -> None:
    """Regression: an HTML page was cached as the zip and every later run failed."""
    httpserver.expect_request("/portal/heart+disease.zip").respond_with_data(
        PORTAL, content_type="text/html")
    httpserver.expect_request("/uci/heart+disease.zip").respond_with_data(
        uci_zip_bytes(patients))
    with pytest.raises(DataSourceError, match="an HTML page.*nothing was cached"):
        load_data(DataSource(url=httpserver.url_for("/portal/heart+disease.zip"),
                             cache_dir=tmp_path))
    assert _cache_files(tmp_path) == []
    frame, _ = load_data(DataSource(url=httpserver.url_for("/uci/heart+disease.zip"),
                                    cache_dir=tmp_path))
    assert len(frame) == len(patients) and _cache_files(tmp_path) == ["heart+disease.zip"]


def test_a_bad_file_cached_by_an_older_version_is_downloaded_again(
        httpserver: HTTPServer, patients: pd.DataFrame, tmp_path: Path) -> None:
    """A cached file that fails verification is replaced, not trusted."""
    (tmp_path / "heart+disease.zip").write_bytes(PORTAL)
    httpserver.expect_request("/heart+disease.zip").respond_with_data(uci_zip_bytes(patients))
    frame, _ = load_data(DataSource(url=httpserver.url_for("/heart+disease.zip"),
                                    cache_dir=tmp_path))
    assert len(frame) == len(patients) and len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [(b"", "not a zip archive"), (b"\x00\xff" * 100, "not a zip archive"),
     (b"PK\x03\x04" + b"\x00" * 40, "damaged zip"),
     ("truncated", "damaged zip"), ("one member missing", "lacks processed.va.data")],
)
def test_what_is_not_the_uci_archive_is_never_cached(
        httpserver: HTTPServer, patients: pd.DataFrame, tmp_path: Path, payload: bytes | str,
        message: str) -> None:
    """Empty, random, truncated, or a zip without a member: refused, and the cache stays empty."""
    if payload == "truncated":
        payload = uci_zip_bytes(patients)[:-100]
    elif payload == "one member missing":
        payload = uci_zip_bytes(patients, members=tuple(UCI_FILES[:3]))
    httpserver.expect_request("/heart+disease.zip").respond_with_data(payload)
    with pytest.raises(DataSourceError, match=message):
        load_data(DataSource(url=httpserver.url_for("/heart+disease.zip"), cache_dir=tmp_path))
    assert _cache_files(tmp_path) == []


def test_a_known_checksum_is_checked(httpserver: HTTPServer, patients: pd.DataFrame,
                                     tmp_path: Path) -> None:
    """With HEART_DATA_SHA256 set, another archive (even a valid one) is refused."""
    payload = uci_zip_bytes(patients)
    httpserver.expect_request("/heart+disease.zip").respond_with_data(payload)
    url = httpserver.url_for("/heart+disease.zip")
    with pytest.raises(DataSourceError, match="SHA-256"):
        load_data(DataSource(url=url, cache_dir=tmp_path, sha256="0" * 64))
    assert _cache_files(tmp_path) == []
    _, digest = load_data(DataSource(url=url, cache_dir=tmp_path,
                                     sha256=hashlib.sha256(payload).hexdigest()))
    assert digest == hashlib.sha256(payload).hexdigest()


def test_a_download_killed_midway_leaves_nothing_the_next_run_trusts(
        httpserver: HTTPServer, patients: pd.DataFrame, tmp_path: Path) -> None:
    """A dead run's temporary file is removed; the next run downloads and verifies afresh."""
    leftover = tmp_path / ".heart+disease.zip.k3j2x.part"
    leftover.write_bytes(b"PK\x03\x04 half")
    httpserver.expect_request("/heart+disease.zip").respond_with_data(uci_zip_bytes(patients))
    load_data(DataSource(url=httpserver.url_for("/heart+disease.zip"), cache_dir=tmp_path))
    assert _cache_files(tmp_path) == ["heart+disease.zip"]


def test_two_first_runs_at_once_download_once(httpserver: HTTPServer, patients: pd.DataFrame,
                                              tmp_path: Path) -> None:
    """Under the lock, the second run finds the first one's verified file and uses it."""
    payload = uci_zip_bytes(patients)

    def slow(_request):
        time.sleep(0.5)
        return Response(payload)

    httpserver.expect_request("/heart+disease.zip").respond_with_handler(slow)
    url = httpserver.url_for("/heart+disease.zip")
    with ThreadPoolExecutor(2) as pool:
        source = DataSource(url=url, cache_dir=tmp_path)
        results = list(pool.map(lambda _: load_data(source), range(2)))
    assert len(httpserver.log) == 1 and results[0][1] == results[1][1]
    assert _cache_files(tmp_path) == ["heart+disease.zip"]
