"""``serve``: every rule of the HTTP API in-process (FastAPI's TestClient), a property-based run of
its OpenAPI schema (schemathesis) that must find no 5xx, and the real process on a free loopback
port (access log, SIGTERM and Ctrl-C draining an in-flight request)."""

from __future__ import annotations

import copy
import json
import math
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from heart.errors import PatientValidationError
from heart.model_source import ServedModel, file_sha256, open_model
from heart.server import MAX_BODY_BYTES, create_app
from heart.serving import predict
from heart_disease import main

PROJECT = Path(__file__).resolve().parents[1]
PATIENT = {"Age": 63, "Sex": "M", "ChestPainType": "ASY", "RestingBP": 150, "Cholesterol": 230,
           "FastingBS": 1, "RestingECG": "ST", "MaxHR": 108, "ExerciseAngina": "Y",
           "Oldpeak": 2.0, "ST_Slope": "Flat"}
HEAVY = ("sklearn", "pandas", "optuna", "mlflow", "scipy")


def with_field(field: str, value: Any) -> list[dict[str, Any]]:
    """Two patients, the second with ``field`` set to ``value``."""
    second = copy.deepcopy(PATIENT) | {field: value}
    return [PATIENT, second]


def without_field(field: str) -> list[dict[str, Any]]:
    """Two patients, the second without ``field``."""
    second = {k: v for k, v in PATIENT.items() if k != field}
    return [PATIENT, second]


@pytest.fixture(name="served")
def fixture_served(onnx_model: Path) -> ServedModel:
    """The session's small ONNX model, loaded as ``serve --model PATH`` loads it."""
    return open_model(str(onnx_model), "", onnx_only=True)


@pytest.fixture(name="app")
def fixture_app(served: ServedModel) -> FastAPI:
    """The API serving the small model."""
    return create_app(served)


@pytest.fixture(name="client")
def fixture_client(app: FastAPI) -> TestClient:
    """An in-process client of the API."""
    return TestClient(app)


def test_health_names_the_model_and_its_sha256(client: TestClient, onnx_model: Path) -> None:
    """GET /health says exactly which file is served."""
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"model": str(onnx_model), "version": None,
                             "sha256": file_sha256(onnx_model), "source": str(onnx_model)}


def test_predict_answers_as_the_predict_command(client: TestClient, onnx_model: Path,
                                                complete_patients: list[dict[str, Any]]) -> None:
    """POST /predict gives predict's list: the same labels, probabilities within 1e-6."""
    answer = client.post("/predict", json=complete_patients)
    assert answer.status_code == 200
    expected = predict(onnx_model, complete_patients)
    got = answer.json()
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    assert max(abs(g["probability"] - e["probability"]) for g, e in zip(got, expected)) <= 1e-6
    assert len({round(g["probability"], 3) for g in got}) > 10  # not one constant answer


def test_a_zero_cholesterol_gets_the_answer_predict_gives(client: TestClient,
                                                          onnx_model: Path) -> None:
    """0 is the training data's "not measured"; a model trained without missing values refuses
    it in predict, and the server refuses it the same way, naming the field."""
    patient = PATIENT | {"Cholesterol": 0}
    with pytest.raises(PatientValidationError):
        predict(onnx_model, [patient])
    answer = client.post("/predict", json=[patient])
    assert answer.status_code == 422
    assert "Cholesterol" in answer.json()["detail"]


@pytest.mark.parametrize(("body", "status", "words"), [
    (b"{not json", 400, ["not JSON"]),
    (b"", 400, ["not JSON"]),
    (json.dumps(PATIENT).encode(), 400, ["list of patients", "an object"]),
    (b"[]", 422, ["no patients"]),
    (b"[1, 2]", 422, ["patient 1", "object"]),
    (json.dumps(without_field("MaxHR")).encode(), 422, ["patient 2", "MaxHR", "missing"]),
    (json.dumps(without_field("Sex")).encode(), 422, ["patient 2", "Sex", "missing"]),
    (json.dumps(with_field("Age", None)).encode(), 422, ["patient 2", "Age", "missing"]),
    (json.dumps(with_field("Age", "sixty")).encode(), 422, ["patient 2", "Age", "number"]),
    (json.dumps(with_field("Age", [63])).encode(), 422, ["patient 2", "Age", "number"]),
    (json.dumps(with_field("Sex", 1)).encode(), 422, ["patient 2", "Sex", "one of"]),
    (json.dumps(with_field("Sex", "X")).encode(), 422, ["patient 2", "Sex", "one of"]),
    (json.dumps(with_field("Age", math.nan)).encode(), 422, ["patient 2", "Age", "finite"]),
    (json.dumps(with_field("Oldpeak", math.inf)).encode(), 422, ["patient 2", "Oldpeak", "finite"]),
    (json.dumps(with_field("Age", 10 ** 400)).encode(), 422, ["patient 2", "Age", "finite"]),
    (json.dumps(with_field("Age", 250)).encode(), 422, ["patient 2", "Age", "range"]),
    (json.dumps(with_field("MaxHR", 900)).encode(), 422, ["patient 2", "MaxHR", "range"]),
    (json.dumps(with_field("Agee", 63)).encode(), 422, ["patient 2", "unknown field", "Agee"]),
    (json.dumps([{k: "" for k in PATIENT}]).encode(), 422, ["patient 1", "missing"]),
    (json.dumps(with_field("FastingBS", 0.5)).encode(), 422, ["patient 2", "FastingBS", "0 or 1"]),
    (json.dumps([PATIENT]).encode()[:-2] + b', "Oldpeak": 0.0}]', 422,
     ["patient 1", "'Oldpeak' is given more than once"]),
    (b"[" * 100_000 + b"]" * 100_000, 400, ["not JSON"]),
])
def test_a_bad_body_is_a_4xx_naming_the_patient_and_field(client: TestClient, body: bytes,
                                                          status: int, words: list[str]) -> None:
    """Each refusal is one 4xx whose detail says what is wrong; the server keeps serving."""
    answer = client.post("/predict", content=body)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    for word in words:
        assert word in detail
    assert client.post("/predict", json=[PATIENT]).status_code == 200


def test_a_body_over_one_megabyte_is_413(client: TestClient) -> None:
    """A declared or streamed body over 1 MB is refused before it is parsed."""
    padding = b" " * (MAX_BODY_BYTES + 1)
    assert client.post("/predict", content=padding).status_code == 413

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(3):
            yield b" " * (MAX_BODY_BYTES // 2)
    assert client.post("/predict", content=chunks()).status_code == 413
    assert client.post("/predict", json=[PATIENT]).status_code == 200


def test_a_body_just_under_the_limit_is_scored(client: TestClient) -> None:
    """The limit is 1 MB of body, not of patients: a full body is answered."""
    patients = [PATIENT] * 4000
    body = json.dumps(patients).encode()
    assert len(body) < MAX_BODY_BYTES
    answer = client.post("/predict", content=body)
    assert answer.status_code == 200
    assert len(answer.json()) == 4000


def test_docs_and_the_openapi_schema_describe_a_patient(client: TestClient) -> None:
    """/docs is the OpenAPI page; the schema carries the model's ranges and categories."""
    assert "swagger" in client.get("/docs").text.lower()
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    patient = body["schema"]["items"]
    assert patient["properties"]["Sex"]["enum"] == ["F", "M"] or set(
        patient["properties"]["Sex"]["enum"]) == {"F", "M"}
    assert patient["properties"]["Age"]["maximum"] < 250
    assert set(patient["required"]) == set(PATIENT)


def test_serving_imports_no_scikit_learn_pandas_or_optuna(onnx_model: Path) -> None:
    """The app and the model loader keep the serving path lean."""
    code = ("import sys; from heart.model_source import open_model; "
            "from heart.server import create_app; "
            f"create_app(open_model({str(onnx_model)!r}, '', onnx_only=True)); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "mode"), [
    ("GET", "/health", GenerationMode.POSITIVE),  # no parameters: nothing to get wrong
    ("POST", "/predict", GenerationMode.POSITIVE),
    ("POST", "/predict", GenerationMode.NEGATIVE),
])
def test_the_openapi_schema_finds_no_server_error(app: FastAPI, method: str, path: str,
                                                  mode: GenerationMode) -> None:
    """Bodies generated from the app's own OpenAPI schema, valid ones and not, never get a 5xx.

    (schemathesis drives Hypothesis directly here: its pytest fixture loader does not run
    under pytest 9.)
    """
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)[path][method]

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    check()  # pylint: disable=no-value-for-parameter  # @given supplies the case


# The real process


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: Path, port: int) -> subprocess.Popen[str]:
    """``heart_disease.py serve`` on ``port``; returns once it printed its URL (it listens)."""
    process = subprocess.Popen(  # pylint: disable=consider-using-with  # the caller stops it
        [sys.executable, "heart_disease.py", "serve", "--model", str(model), "--port", str(port)],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != f"http://127.0.0.1:{port}":
        process.kill()
        raise AssertionError(f"the server did not start: {line!r} {process.communicate()}")
    return process


def send(conn: socket.socket, method: str, path: str, body: bytes = b"") -> None:
    """Write one HTTP/1.1 request (the connection is closed after the answer)."""
    conn.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                 "Connection: close\r\n\r\n".encode() + body)


def receive(conn: socket.socket) -> tuple[int, bytes]:
    """Read the whole answer; (status, body)."""
    reply = b""
    while chunk := conn.recv(65536):
        reply += chunk
    head, _, content = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), content


def request(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request on a fresh connection; (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        send(conn, method, path, body)
        return receive(conn)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_the_server_process_drains_an_in_flight_request_and_exits(
        onnx_model: Path, complete_patients: list[dict[str, Any]], signum: int,
        code: int) -> None:
    """The real process on a loopback port: answers, logs one access line per request, and on
    SIGTERM (143) or Ctrl-C (130) finishes the request in flight before exiting within 5 s."""
    port = free_port()
    process = start_server(onnx_model, port)
    try:
        assert request(port, "GET", "/health")[0] == 200
        status, body = request(port, "POST", "/predict", json.dumps(complete_patients).encode())
        assert status == 200
        assert json.loads(body) == predict(onnx_model, complete_patients)
        assert request(port, "POST", "/predict", b"[{}]")[0] == 422
        payload = json.dumps([PATIENT]).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}"
                         "\r\nConnection: close\r\n\r\n".encode() + payload[:10])  # a part
            time.sleep(0.3)
            process.send_signal(signum)
            time.sleep(0.5)  # the server is shutting down, the request still in flight
            conn.sendall(payload[10:])
            status, body = receive(conn)
        assert status == 200
        assert json.loads(body) == predict(onnx_model, [PATIENT])
        stopped = time.monotonic()
        _, stderr = process.communicate(timeout=10)
        assert time.monotonic() - stopped < 5
    finally:
        process.kill()
        process.wait()
    assert process.returncode == code
    assert stderr.count('"GET /health HTTP/1.1" 200') == 1
    assert stderr.count('"POST /predict HTTP/1.1" 200') == 2
    assert stderr.count('"POST /predict HTTP/1.1" 422') == 1
    assert f"error: interrupted ({signal.Signals(signum).name})" in stderr
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_a_port_in_use_is_one_error_line(onnx_model: Path) -> None:
    """serve on a taken port: exit 1 with one line naming the address."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "heart_disease.py", "serve", "--model",
                               str(onnx_model), "--port", str(port)], cwd=PROJECT,
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]


@pytest.mark.parametrize(("model", "words"), [
    ("model.joblib", "serving needs the ONNX model"),
    ("models:/heart-disease", "models:/NAME@ALIAS"),
])
def test_serve_refuses_a_model_it_cannot_serve(model: str, words: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """A joblib file (it would load scikit-learn) or a malformed URI: one line, exit 1."""
    assert main(["serve", "--model", str(tmp_path / model) if model.endswith("joblib") else model,
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]) == 1
    assert words in capsys.readouterr().err
