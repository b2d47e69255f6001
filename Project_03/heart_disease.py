"""Heart-disease classifier: train it, evaluate how good its training procedure is, score patients,
serve the model over HTTP.

Examples:
    python heart_disease.py train
    python heart_disease.py train --data-path ../../shared/data/heart/heart.csv --tuning
    python heart_disease.py evaluate --data-path ../../shared/data/heart/heart.csv --repeats 2
    python heart_disease.py tune --storage sqlite:///study.db --study hgb --model \
        hist_gradient_boosting --search random --n-trials 40   # in as many shells as cores
    python heart_disease.py predict --model artifacts/model.onnx --input examples/patients.csv
    python heart_disease.py serve --model models:/heart-disease@champion --port 8000

Read next: heart/train.py (what train does, step by step), then heart/procedure.py,
heart/pipeline.py, heart/evaluate.py and heart/serving.py; heart/cli.py holds the flags;
heart/registry.py and heart/gate.py decide which version is the champion; heart/server.py is the
HTTP API.

``predict`` and ``serve`` import only the standard library, numpy and ONNX Runtime (and, for
``serve``, FastAPI and uvicorn): scikit-learn, pandas, Optuna and MLflow are imported inside
``train`` and ``evaluate``, and a ``models:/`` URI is resolved by a child process.
"""

from __future__ import annotations

import argparse

from heart import cli, report
from heart.model_source import open_model
from heart.patients import read_patients
from heart.serving import score
from heart.signals import exit_process


def train(args: argparse.Namespace) -> int:
    """``train``: check the data, fit and measure the model, save its artifacts, track the run."""
    # pylint: disable=import-outside-toplevel  # scikit-learn, MLflow: slow, not for predict
    from heart.train import train_model
    from heart.workers import quiet_workers

    with quiet_workers():  # Ctrl-C reaches the command, not its worker processes
        result = train_model(cli.train_config(args))
    print(report.training(result.summary(), args.format))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``evaluate``: cross-validate the whole training procedure against the baseline."""
    # pylint: disable=import-outside-toplevel  # scikit-learn: slow, not for predict
    from heart.evaluate import evaluate_procedure
    from heart.workers import quiet_workers

    with quiet_workers():
        summary = evaluate_procedure(cli.evaluate_config(args))
    print(report.evaluation(summary, args.format))
    return 0


def tune(args: argparse.Namespace) -> int:
    """``tune``: one worker of a shared search; run trials until the study holds its budget."""
    # pylint: disable=import-outside-toplevel  # scikit-learn, Optuna: slow, not for predict
    from heart.train import tune_worker
    from heart.workers import quiet_workers

    with quiet_workers():
        share = tune_worker(cli.tune_config(args))
    print(report.tuning(share.summary(), args.format))
    return 0


def predict(args: argparse.Namespace) -> int:
    """``predict``: validate the patients, score them with a trained model."""
    served = open_model(args.model, cli.tracking_uri(args))
    scores = score(served.model, read_patients(args.input))
    print(report.predictions(scores, args.format))
    return 0


def serve(args: argparse.Namespace) -> int:
    """``serve``: load the model, listen, print the URL, answer requests until SIGTERM/Ctrl-C."""
    # pylint: disable-next=import-outside-toplevel  # FastAPI, uvicorn: for serve only
    from heart.server import address, listen, serve_forever

    served = open_model(args.model, cli.tracking_uri(args), onnx_only=True)
    with listen(args.host, args.port) as sock:
        print(address(sock), flush=True)
        serve_forever(served, sock)
    return 0


COMMANDS = {"train": train, "evaluate": evaluate, "tune": tune, "predict": predict,
            "serve": serve}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    return cli.run(COMMANDS, argv)


if __name__ == "__main__":
    exit_process(main())
