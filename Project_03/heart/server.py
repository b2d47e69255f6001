"""``serve``: the model behind an HTTP API (FastAPI under uvicorn), with the rules of ``predict``.

- ``GET /health``: the model's name, version and SHA-256 (what is being served, exactly).
- ``POST /predict``: a JSON list of patients in, the list ``predict --format json`` prints out.
- ``GET /docs``: the OpenAPI page, its request schema built from the model's own schema.

The HTTP API is stricter than ``predict``, which imputes what a CSV leaves empty: every field must
be present, finite and within its physiological range (a 0 in a field where the training data
writes 0 for "not measured", such as Cholesterol, is passed on to ``predict``'s rules, which
accept it as missing where the model was trained with missing values there), and no unknown
field is accepted. A refused body gets one 4xx whose ``detail`` names the patient and the field;
a body over 1 MB gets 413. Whatever the body, the server keeps serving.

The request body is read and parsed here rather than by pydantic: the size limit applies while
reading, and a batch of 1,000 patients is validated column by column as ``predict`` does it.
Only the standard library, numpy, ONNX Runtime, FastAPI and uvicorn are imported.
"""

from __future__ import annotations

import json
import logging
import math
import socket
from collections.abc import Mapping
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from heart.errors import PatientValidationError, ServeError
from heart.model_source import ServedModel
from heart.patients import MISSING_TEXT, parse_json
from heart.serving import score

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
DRAIN_SECONDS = 3  # in-flight requests get this long after SIGTERM / Ctrl-C (exit within 5 s)


class BodyTooLarge(ValueError):
    """A request body over ``MAX_BODY_BYTES``."""


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in MISSING_TEXT)


def _refuse_field(number: int, column: str, value: Any, rule: Mapping[str, Any]) -> None:
    """One numeric field: present, finite and in range (type errors are left to ``validate``)."""
    if _missing(value):
        raise PatientValidationError(f"patient {number}: {column} is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return
    try:
        figure = float(value)
    except ValueError:
        return
    except OverflowError:  # an integer too large for a float
        figure = math.inf
    if not math.isfinite(figure):
        raise PatientValidationError(f"patient {number}: {column} must be a finite number, "
                                     f"got {value!r}")
    if figure == 0 and rule["zero_is_missing"]:
        return
    if not rule["low"] <= figure <= rule["high"]:
        raise PatientValidationError(f"patient {number}: {column} {value!r} is outside the "
                                     f"physiological range {rule['low']:g} to {rule['high']:g}")


def refuse_incomplete(records: list[Any], schema: Mapping[str, Any]) -> None:
    """Refuse what ``predict`` would impute or ignore: the HTTP API scores complete patients only.

    Raises:
        PatientValidationError: naming the first patient (from 1) and field at fault.
    """
    numeric, categorical = schema["numeric"], schema["categorical"]
    fields = {*numeric, *categorical}
    if not records:
        raise PatientValidationError("the list holds no patients")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise PatientValidationError(f"patient {number} must be a JSON object of fields, got "
                                         f"{type(record).__name__}")
        repeated = getattr(record, "repeated", ())
        if repeated:
            raise PatientValidationError(f"patient {number}: field {repeated[0]!r} is given more "
                                         "than once")
        unknown = sorted(set(record) - fields)
        if unknown:
            raise PatientValidationError(f"patient {number}: unknown field {unknown[0]!r}; the "
                                         f"fields are {', '.join(sorted(fields))}")
        for column, rule in numeric.items():
            _refuse_field(number, column, record.get(column), rule)
        for column in categorical:
            if _missing(record.get(column)):
                raise PatientValidationError(f"patient {number}: {column} is missing")


def answer(served: ServedModel, records: list[Any]) -> list[dict[str, Any]]:
    """``predict --format json``'s answer, for complete, valid patients only."""
    refuse_incomplete(records, served.model.schema)
    return score(served.model, records)


def patient_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one patient, from the model's own serving schema."""
    properties: dict[str, Any] = {}
    for column, rule in schema["numeric"].items():
        in_range = {"type": "number", "minimum": rule["low"], "maximum": rule["high"]}
        properties[column] = ({"anyOf": [in_range, {"const": 0}],
                               "description": "0 means not measured"}
                              if rule["zero_is_missing"] else in_range)
    for column, allowed in schema["categorical"].items():
        properties[column] = {"type": "string", "enum": list(allowed)}
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


async def read_body(request: Request) -> bytes:
    """The request body, refused with ``BodyTooLarge`` as soon as it passes ``MAX_BODY_BYTES``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def create_app(served: ServedModel) -> FastAPI:
    """The FastAPI application serving ``served``."""
    app = FastAPI(title="Heart disease classifier", version="1",
                  description="Probability of heart disease for each patient, from the model "
                  f"{served.name}" + (f" version {served.version}" if served.version else ""))
    schema = served.model.schema
    error = {"content": {"application/json": {"schema": {
        "type": "object", "properties": {"detail": {"type": "string"}}}}}}

    @app.get("/health", summary="What is served: model name, version and SHA-256")
    def health() -> dict[str, Any]:
        return served.identity()

    @app.post("/predict", summary="Score a list of patients", openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "array", "items": patient_schema(schema), "minItems": 1}}}},
        "responses": {
            "200": {"description": "One answer per patient, in order", "content": {
                "application/json": {"schema": {"type": "array", "items": {
                    "type": "object", "required": ["probability", "label"], "properties": {
                        "probability": {"type": "number", "minimum": 0, "maximum": 1},
                        "label": {"type": "integer", "enum": [0, 1]}}}}}}},
            "400": {"description": "Not JSON, or not a list", **error},
            "413": {"description": f"Body over {MAX_BODY_BYTES} bytes", **error},
            "422": {"description": "A patient or field that cannot be scored", **error}}})
    async def predict(request: Request) -> Response:
        try:
            body = await read_body(request)
        except BodyTooLarge:
            return _problem(413, f"the body is over {MAX_BODY_BYTES} bytes; send fewer patients "
                            "per request")
        try:
            records = parse_json(body)
        except (ValueError, RecursionError) as exc:
            return _problem(400, f"the body is not JSON: {exc}")
        if not isinstance(records, list):
            found = "an object" if isinstance(records, dict) else type(records).__name__
            return _problem(400, f"the body must be a JSON list of patients, got {found}")
        try:
            answers = answer(served, records)
        except PatientValidationError as exc:
            return _problem(422, str(exc))
        return Response(json.dumps(answers), media_type="application/json")

    return app


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port).

    Bound here rather than by uvicorn, which calls ``sys.exit`` when the port is taken; once it
    listens, connections wait in its queue until uvicorn accepts them.

    Raises:
        ServeError: the address is taken or cannot be used.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart without a wait
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:  # taken, not this machine's address, or a name that does not resolve
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def address(sock: socket.socket) -> str:
    """The URL a listening socket answers on."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def serve_forever(served: ServedModel, sock: socket.socket) -> None:
    """Answer on ``sock`` until SIGTERM or Ctrl-C; in-flight requests finish first (within
    ``DRAIN_SECONDS``).

    uvicorn catches the signal, drains, then raises it again, so the caller's handler turns it
    into the usual exit code (143 or 130). One access-log line per request goes to the
    ``uvicorn.access`` logger, i.e. stderr as configured by the command line.
    """
    config = uvicorn.Config(create_app(served), log_config=None, access_log=True,
                            timeout_graceful_shutdown=DRAIN_SECONDS, server_header=False,
                            lifespan="off")
    logger.info("Serving %s%s on %s (API page: %s/docs)", served.name,
                f" version {served.version}" if served.version else "", address(sock),
                address(sock))
    uvicorn.Server(config).run(sockets=[sock])
