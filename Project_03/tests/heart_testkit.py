"""Helpers for Project_03's tests, importable by name (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from heart.data import COLUMNS


def synthetic_patients(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Plausible patients whose label depends on the usual risk factors."""
    rng = np.random.default_rng(seed)
    age = rng.integers(30, 78, rows)
    sex = rng.choice(["M", "F"], rows, p=[0.75, 0.25])
    pain = rng.choice(["ASY", "NAP", "ATA", "TA"], rows, p=[0.5, 0.25, 0.2, 0.05])
    oldpeak = rng.gamma(1.2, 0.8, rows).round(1)
    angina = rng.choice(["Y", "N"], rows, p=[0.4, 0.6])
    slope = rng.choice(["Up", "Flat", "Down"], rows, p=[0.45, 0.45, 0.1])
    risk = (0.04 * (age - 55) + 1.0 * (sex == "M") + 1.5 * (pain == "ASY") + 0.8 * oldpeak
            + 1.2 * (angina == "Y") + 1.5 * (slope == "Flat") - 2.4)
    label = (rng.random(rows) < 1 / (1 + np.exp(-risk))).astype(int)
    return pd.DataFrame({
        "Age": age, "Sex": sex, "ChestPainType": pain,
        "RestingBP": rng.normal(132, 17, rows).round(),
        "Cholesterol": rng.normal(240, 50, rows).round(),
        "FastingBS": rng.choice([0, 1], rows, p=[0.77, 0.23]),
        "RestingECG": rng.choice(["Normal", "ST", "LVH"], rows),
        "MaxHR": (rng.normal(145, 22, rows) - 12 * label).round(),
        "ExerciseAngina": angina, "Oldpeak": oldpeak, "ST_Slope": slope, "HeartDisease": label,
    })[COLUMNS]


POSTGRES_USER = "postgres"  # the server refuses to run as root; as root it runs as this user


class PostgresMissing(Exception):
    """This machine cannot start a PostgreSQL server (the reason is the message)."""


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def start_postgres(folder: Path) -> Iterator[str]:
    """A throwaway PostgreSQL server in ``folder`` on a free loopback port, stopped afterwards;
    yields its URL without a database name. As root, ``folder`` is handed to ``postgres``.

    Raises:
        PostgresMissing: no ``initdb``/``pg_ctl`` on the PATH, or no ``postgres`` user for root.
    """
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        raise PostgresMissing("PostgreSQL's initdb and pg_ctl are not on the PATH (Debian: "
                              "apt-get install postgresql, then add /usr/lib/postgresql/*/bin)")
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            raise PostgresMissing(f"running as root, and there is no {POSTGRES_USER!r} user to "
                                  "run PostgreSQL as") from None
        os.chown(folder, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", POSTGRES_USER, "--"]
    data, port = folder / "data", free_port()
    subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")
    subprocess.run([*run_as, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-w",
                    "-o", options, "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                       check=False, capture_output=True)


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server; return its URL."""
    import psycopg2  # pylint: disable=import-outside-toplevel  # PostgreSQL tests only

    connection = psycopg2.connect(f"{server_url}/postgres")
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
    finally:
        connection.close()
    return f"{server_url}/{name}"
