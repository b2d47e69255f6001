"""Load test of ``heart_disease.py serve`` on the loopback interface: latency and throughput.

Starts the server on a free loopback port, then for ``--seconds`` keeps ``--clients`` keep-alive
connections busy, each sending one patient per request and waiting for the answer before the
next; then sends ``--batches`` requests of ``--batch-size`` patients one after another. Prints
p50/p99 latency and requests per second, stops the server with SIGTERM and checks it exits 143.
It stops by itself and touches nothing but the loopback interface.

    python benchmarks/load.py --model artifacts/model.onnx
    python benchmarks/load.py --model models:/heart-disease@champion --seconds 20

The client is plain asyncio streams (no HTTP library), so that the load generator, which shares
the machine's cores with the server, costs as little CPU as possible.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

PROJECT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60
CATEGORIES = {"Sex": ["M", "F"], "ChestPainType": ["ASY", "NAP", "ATA", "TA"],
              "RestingECG": ["Normal", "ST", "LVH"], "ExerciseAngina": ["Y", "N"],
              "ST_Slope": ["Up", "Flat", "Down"]}


def patient(rng: random.Random) -> dict[str, Any]:
    """One plausible, complete patient."""
    return {"Age": rng.randint(30, 77), "RestingBP": rng.randint(95, 180),
            "Cholesterol": rng.choice([0, rng.randint(150, 350)]), "FastingBS": rng.randint(0, 1),
            "MaxHR": rng.randint(90, 190), "Oldpeak": round(rng.uniform(0, 4), 1),
            **{column: rng.choice(values) for column, values in CATEGORIES.items()}}


def start_server(model: str, tracking_uri: str | None,
                 log: IO[str]) -> tuple[subprocess.Popen[str], int]:
    """``heart_disease.py serve`` on port 0, its stderr into ``log``; return the process and the
    port it printed."""
    command = [sys.executable, str(PROJECT / "heart_disease.py"), "serve", "--model", model,
               "--port", "0"]
    if tracking_uri:
        command += ["--tracking-uri", tracking_uri]
    # The access log (one line per request) is part of what is measured; it goes to a file.
    process = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped by _run
        command, stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:  # the URL is printed on stdout once it listens
        line = process.stdout.readline()
        if line.startswith("http://127.0.0.1:"):
            return process, int(line.strip().rsplit(":", 1)[1])
        if not line and process.poll() is not None:
            break
    process.kill()
    process.wait()
    log.seek(0)
    raise SystemExit(f"error: the server did not start: {log.read().strip()}")


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> int:
    """Send one request on a kept-alive connection; read the whole answer; return its status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines
                  if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split()[1])


def _request(body: bytes) -> bytes:
    return (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def _client(port: int, bodies: list[bytes], until: float,
                  latencies: list[float]) -> int:
    """One keep-alive client until ``until``; return how many answers were not 200."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    requests = [_request(body) for body in bodies]
    failures = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            status = await _exchange(reader, writer, requests[len(latencies) % len(requests)])
            latencies.append(time.perf_counter() - started)
            failures += status != 200
    finally:
        writer.close()
    return failures


async def concurrent_load(port: int, clients: int, seconds: float) -> dict[str, float]:
    """``clients`` connections sending one patient per request for ``seconds``."""
    rng = random.Random(0)
    bodies = [json.dumps([patient(rng)]).encode() for _ in range(64)]
    until = time.perf_counter() + seconds
    per_client: list[list[float]] = [[] for _ in range(clients)]
    started = time.perf_counter()
    failures = await asyncio.gather(*(_client(port, bodies, until, latencies)
                                      for latencies in per_client))
    elapsed = time.perf_counter() - started
    latencies = sorted(x for client in per_client for x in client)
    return {"requests": len(latencies), "failures": sum(failures),
            "per_second": len(latencies) / elapsed, "p50_ms": 1000 * _quantile(latencies, 0.50),
            "p99_ms": 1000 * _quantile(latencies, 0.99)}


async def batch_load(port: int, size: int, batches: int) -> dict[str, float]:
    """``batches`` requests of ``size`` patients, one after another on one connection."""
    rng = random.Random(1)
    request = _request(json.dumps([patient(rng) for _ in range(size)]).encode())
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies, failures = [], 0
    try:
        for _ in range(batches):
            started = time.perf_counter()
            failures += await _exchange(reader, writer, request) != 200
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()
    latencies.sort()
    return {"failures": failures, "p50_ms": 1000 * statistics.median(latencies),
            "max_ms": 1000 * latencies[-1]}


def _quantile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    """Run the load test; print the figures; 1 if any request failed or the exit code is wrong."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="what serve loads: a path or models:/...")
    parser.add_argument("--tracking-uri", help="the MLflow store of a models:/ URI")
    parser.add_argument("--clients", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the load")
    parser.add_argument("--batch-size", type=int, default=1000, help="patients per batch")
    parser.add_argument("--batches", type=int, default=20, help="batch requests")
    args = parser.parse_args(argv)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        return _run(args, log)


def _run(args: argparse.Namespace, log: IO[str]) -> int:
    """Start the server, load it, stop it; print the figures."""
    process, port = start_server(args.model, args.tracking_uri, log)
    try:
        asyncio.run(batch_load(port, 1, 50))  # warm-up: first requests load lazy code paths
        load = asyncio.run(concurrent_load(port, args.clients, args.seconds))
        batch = asyncio.run(batch_load(port, args.batch_size, args.batches))
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=10)
    print(f"{args.clients} keep-alive clients, one patient per request, {args.seconds:g} s: "
          f"{load['requests']} requests, {load['per_second']:.0f} requests/s, "
          f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, "
          f"{load['failures']} not 200")
    print(f"{args.batch_size:,}-patient batch, {args.batches} requests: p50 {batch['p50_ms']:.1f} "
          f"ms, max {batch['max_ms']:.1f} ms, {batch['failures']} not 200")
    log.seek(0)
    access_lines = sum('"POST /predict HTTP/1.1"' in line for line in log)
    print(f"server exit code after SIGTERM: {exit_code}; {access_lines} access-log lines")
    return int(bool(load["failures"] or batch["failures"] or exit_code != 143))


if __name__ == "__main__":
    sys.exit(main())
