"""Data tests: the UCI conversion and download, format detection, and the data checks."""

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

from data_checks import DataValidationError, check_data
from heart_data import (COLUMNS, UCI_FILES, DataSourceError, convert_uci, load_data,
                        read_csv_source)


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


@pytest.mark.realdata
def test_download_converts_the_real_uci_archive(httpserver: HTTPServer, uci_zip: bytes,
                                                tmp_path: Path) -> None:
    """The archive is downloaded from a loopback server, cached, and converted: 920 patients."""
    httpserver.expect_request("/static/public/45/heart+disease.zip").respond_with_data(uci_zip)
    url = httpserver.url_for("/static/public/45/heart+disease.zip")
    frame, digest = load_data(None, url, tmp_path)
    assert len(frame) == 303 + 294 + 123 + 200
    assert frame["HeartDisease"].value_counts().to_dict() == {1: 509, 0: 411}
    assert frame["ST_Slope"].isna().sum() == 309
    again, same_digest = load_data(None, url, tmp_path)
    assert len(httpserver.log) == 1 and same_digest == digest and len(again) == 920


def test_download_failure_names_the_offline_options(httpserver: HTTPServer, tmp_path: Path) -> None:
    """A 404 is a DataSourceError with the --data-path hint, and leaves no partial file."""
    httpserver.expect_request("/missing.zip").respond_with_data("gone", status=404)
    with pytest.raises(DataSourceError, match="--data-path"):
        load_data(None, httpserver.url_for("/missing.zip"), tmp_path)
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


def test_csv_with_other_columns_names_what_was_found(tmp_path: Path) -> None:
    """Wrong columns: the message lists both the found and the expected ones."""
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match=r"has columns \['a', 'b'\]; expected .*missing: Age"):
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
        load_data(None, "http://127.0.0.1:9/heart+disease.zip", tmp_path / "cache")
    assert (tmp_path / "cache").read_text(encoding="utf-8") == "x"


def test_checks_pass_clean_data_and_report_balance(patients: pd.DataFrame) -> None:
    """Clean data passes; the report carries the class balance and no fatal finding."""
    clean, report = check_data(patients)
    assert len(clean) == 300 and report["fatal"] == []
    assert sum(report["class_balance"].values()) == 300


def test_what_if_a_column_is_entirely_null(patients: pd.DataFrame) -> None:
    """A feature with no values at all stops training, naming the column."""
    patients["Cholesterol"] = None
    with pytest.raises(DataValidationError, match="Cholesterol have no values at all"):
        check_data(patients)


def test_what_if_some_values_are_null(patients: pd.DataFrame) -> None:
    """Partly missing values are counted and left for the imputer."""
    patients.loc[:9, "MaxHR"] = None
    patients.loc[:4, "ST_Slope"] = None
    clean, report = check_data(patients)
    assert report["missing"]["MaxHR"] == 10 and report["missing"]["ST_Slope"] == 5
    assert clean["MaxHR"].isna().sum() == 10


def test_impossible_zeros_and_out_of_range_become_missing(patients: pd.DataFrame) -> None:
    """Cholesterol 0 and an age of 400 are recording errors: masked and warned about."""
    patients.loc[:2, "Cholesterol"] = 0
    patients.loc[3, "Age"] = 400
    clean, report = check_data(patients)
    assert report["impossible_zeros"]["Cholesterol"] == 3 and report["out_of_range"]["Age"] == 1
    assert clean.loc[:2, "Cholesterol"].isna().all() and pd.isna(clean.loc[3, "Age"])
    assert any("Cholesterol: 3 zero value(s)" in w for w in report["warnings"])


def test_unknown_category_becomes_missing(patients: pd.DataFrame) -> None:
    """A category outside the allowed list is masked and reported."""
    patients.loc[0, "ChestPainType"] = "XYZ"
    clean, report = check_data(patients)
    assert report["unknown_categories"]["ChestPainType"] == ["XYZ"]
    assert pd.isna(clean.loc[0, "ChestPainType"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(Age=f["Age"].astype(object).where(f.index > 0, "old")),
         "Age has 1 non-numeric value"),
        (lambda f: f.head(50), "only 50 usable rows"),
        (lambda f: f.assign(HeartDisease=1), "only one class"),
        (lambda f: f.assign(HeartDisease=f["HeartDisease"] * 3), r"must be 0 or 1, found \[0, 3\]"),
    ],
)
def test_fatal_problems_stop_training(patients: pd.DataFrame, change, message: str) -> None:
    """Text in a number, too few rows, one class, a non-binary label: each is fatal."""
    with pytest.raises(DataValidationError, match=message):
        check_data(change(patients))


def test_duplicates_are_counted(patients: pd.DataFrame) -> None:
    """Duplicated rows are reported (and kept)."""
    _, report = check_data(pd.concat([patients, patients.head(3)], ignore_index=True))
    assert report["duplicates"] == 3


@pytest.mark.realdata
def test_real_csv_report(real_csv: Path) -> None:
    """The real CSV: 918 rows, 508/410 classes, 172 zero cholesterols masked."""
    frame, _ = read_csv_source(str(real_csv))
    _, report = check_data(frame)
    assert report["rows"] == 918 and report["class_balance"] == {"1": 508, "0": 410}
    assert report["impossible_zeros"] == {"RestingBP": 1, "Cholesterol": 172}


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
        load_data(None, httpserver.url_for("/portal/heart+disease.zip"), tmp_path)
    assert _cache_files(tmp_path) == []
    frame, _ = load_data(None, httpserver.url_for("/uci/heart+disease.zip"), tmp_path)
    assert len(frame) == len(patients) and _cache_files(tmp_path) == ["heart+disease.zip"]


def test_a_bad_file_cached_by_an_older_version_is_downloaded_again(
        httpserver: HTTPServer, patients: pd.DataFrame, tmp_path: Path) -> None:
    """A cached file that fails verification is replaced, not trusted."""
    (tmp_path / "heart+disease.zip").write_bytes(PORTAL)
    httpserver.expect_request("/heart+disease.zip").respond_with_data(uci_zip_bytes(patients))
    frame, _ = load_data(None, httpserver.url_for("/heart+disease.zip"), tmp_path)
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
        load_data(None, httpserver.url_for("/heart+disease.zip"), tmp_path)
    assert _cache_files(tmp_path) == []


def test_a_known_checksum_is_checked(httpserver: HTTPServer, patients: pd.DataFrame,
                                     tmp_path: Path) -> None:
    """With HEART_DATA_SHA256 set, another archive (even a valid one) is refused."""
    payload = uci_zip_bytes(patients)
    httpserver.expect_request("/heart+disease.zip").respond_with_data(payload)
    url = httpserver.url_for("/heart+disease.zip")
    with pytest.raises(DataSourceError, match="SHA-256"):
        load_data(None, url, tmp_path, data_sha256="0" * 64)
    assert _cache_files(tmp_path) == []
    _, digest = load_data(None, url, tmp_path, data_sha256=hashlib.sha256(payload).hexdigest())
    assert digest == hashlib.sha256(payload).hexdigest()


def test_a_download_killed_midway_leaves_nothing_the_next_run_trusts(
        httpserver: HTTPServer, patients: pd.DataFrame, tmp_path: Path) -> None:
    """A dead run's temporary file is removed; the next run downloads and verifies afresh."""
    leftover = tmp_path / "heart+disease.zip.k3j2x.part"
    leftover.write_bytes(b"PK\x03\x04 half")
    httpserver.expect_request("/heart+disease.zip").respond_with_data(uci_zip_bytes(patients))
    load_data(None, httpserver.url_for("/heart+disease.zip"), tmp_path)
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
        results = list(pool.map(lambda _: load_data(None, url, tmp_path), range(2)))
    assert len(httpserver.log) == 1 and results[0][1] == results[1][1]
    assert _cache_files(tmp_path) == ["heart+disease.zip"]
