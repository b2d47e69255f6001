"""Train a heart-disease classifier with data checks, search, tracking and ONNX export; evaluate
the whole training procedure by repeated cross-validation; predict.

Examples:
    python heart_disease.py train
    python heart_disease.py train --data-path heart.csv --tuning --search bayesian --n-trials 30
    python heart_disease.py evaluate --data-path heart.csv --repeats 10 --folds 5
    python heart_disease.py predict --model artifacts/model.onnx --input patients.csv

``predict`` on an ONNX model imports only the standard library, numpy and ONNX Runtime: the heavy
modules (scikit-learn, pandas, Optuna, MLflow) are imported by ``train`` and ``evaluate`` only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from heart_limits import (MAX_CV, MAX_SEED, MAX_TRIALS, HelpFormatter, SettingsError, fraction,
                          int_range, non_empty, non_empty_path)
from heart_search_space import DEFAULT_MODEL, FAMILIES, STRATEGIES
from heart_serving import ModelFileError, PatientValidationError, predict, read_patients
from heart_signals import Interrupted, exit_process, handle_signals

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT_DIR = PROJECT_DIR / "artifacts"
DEFAULT_TRACKING_URI = f"sqlite:///{PROJECT_DIR / 'mlflow.db'}"


# OSError: a missing file, a name too long, a full disk; each is one line, not a traceback.
LEAN_ERRORS = (PatientValidationError, ModelFileError, OSError, SettingsError)
HELP = HelpFormatter
MAX_REPEATS = 100


def user_errors(command: str) -> tuple[type[Exception], ...]:
    """Errors shown as one ``error:`` line; only train and evaluate load the heavy modules."""
    if command == "predict":
        return LEAN_ERRORS
    # pylint: disable=import-outside-toplevel  # scikit-learn, pandas, MLflow: not for predict
    from data_checks import DataValidationError
    from export import ExportError
    from heart_artifacts import ArtifactError
    from heart_data import DataSourceError
    from tracking import TrackingError
    return (*LEAN_ERRORS, DataSourceError, DataValidationError, ExportError, ArtifactError,
            TrackingError)


def _recall(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def _add_procedure_flags(command: argparse.ArgumentParser) -> None:
    """Flags of the training procedure, shared by train and evaluate."""
    command.add_argument("--data-path", type=non_empty,
                         help="CSV in the 918-row schema, local or http(s); "
                         "if omitted, the UCI archive from $HEART_DATA_URL")
    command.add_argument("--cache-dir", type=non_empty_path, default=PROJECT_DIR / "data",
                         help="folder for the downloaded UCI archive")
    command.add_argument("--model", choices=("auto", *FAMILIES), default=DEFAULT_MODEL,
                         help="model family; auto picks the best by cross-validation (nested "
                         "cross-validation found that choice noisier than the soft vote: "
                         "RESULTS.md)")
    command.add_argument("--tuning", action="store_true", help="search hyperparameters")
    command.add_argument("--search", choices=STRATEGIES, default="bayesian",
                         help="grid, random, bayesian (Optuna TPE) or list; all search the "
                         "family's one space")
    command.add_argument("--n-trials", type=int_range(1, MAX_TRIALS), default=30,
                         help=f"trials for random and bayesian search, 1 to {MAX_TRIALS}")
    command.add_argument("--cv", type=int_range(2, MAX_CV), default=5,
                         help=f"cross-validation folds for model choice and tuning, 2 to {MAX_CV}")
    command.add_argument("--seed", type=int_range(0, MAX_SEED), default=42,
                         help=f"random seed, 0 to {MAX_SEED}")
    command.add_argument("--min-recall", type=_recall, default=None,
                         help="pick the highest threshold whose CV recall is at least this "
                         "(default: threshold 0.5)")


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser with its two subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--format", choices=("table", "json"), default="table",
                        help="results for people (table) or programs (json), on stdout")
    common.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log detail on stderr; DEBUG also shows tracebacks")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", parents=[common], formatter_class=HELP,
                                help="check data, train, evaluate, export, track")
    _add_procedure_flags(train)
    train.add_argument("--test-size", type=fraction, default=0.2,
                       help="share of patients held out for the test set, in (0, 1); it must "
                       "leave enough patients of each class for the split and the folds")
    train.add_argument("--output-dir", type=non_empty_path, default=DEFAULT_OUTPUT_DIR,
                       help="folder for the artifacts; other files in it are left alone")
    train.add_argument("--tracking-uri", type=non_empty,
                       help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI "
                       f"or {DEFAULT_TRACKING_URI})")
    train.add_argument("--experiment", type=non_empty, default="heart-disease",
                       help="MLflow experiment name")
    train.add_argument("--storage", type=non_empty,
                       help="Optuna storage URL shared by several search workers")
    train.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")

    evaluate_cmd = commands.add_parser(
        "evaluate", parents=[common], formatter_class=HELP,
        help="repeated cross-validation of the whole training procedure, against the baseline")
    _add_procedure_flags(evaluate_cmd)
    evaluate_cmd.add_argument("--repeats", type=int_range(1, MAX_REPEATS), default=10,
                              help=f"repetitions of the outer cross-validation, 1 to {MAX_REPEATS}")
    evaluate_cmd.add_argument("--folds", type=int_range(2, MAX_CV), default=5,
                              help=f"outer folds, 2 to {MAX_CV}")

    predict_cmd = commands.add_parser("predict", parents=[common], formatter_class=HELP,
                                      help="score patients with a trained model")
    predict_cmd.add_argument("--model", type=non_empty_path, required=True,
                             help="model.onnx or model.joblib")
    predict_cmd.add_argument("--input", type=non_empty_path, required=True,
                             help="patients .csv or .json")
    return parser


def render_training(result: dict[str, Any]) -> str:
    """Format a training summary for people: the held-out split beside the CV estimate."""
    test, interval, baseline = result["test"], result["test_ci95"], result["baseline"]
    search, cv, threshold = result["search"], result["cv"], result["threshold"]
    lines = [
        f"Model:    {result['model']}"
        + (f" ({search['strategy']} search, {search['trials']} trials)" if search else "")
        + (", Platt-calibrated" if result["calibration"]["calibrated"] else ""),
        f"Threshold: {threshold['value']:.3f}"
        + (f" (CV recall >= {threshold['min_recall']})" if threshold["min_recall"] else ""),
        "",
        f"{'':<12}{'held-out split [95% interval]':<32}"
        f"{str(cv['folds']) + '-fold CV (train rows)':<22}{'baseline':>9}",
    ]
    for key, name in (("accuracy", "accuracy"), ("roc_auc", "ROC AUC"), ("brier", "Brier"),
                      ("recall", "recall"), ("precision", "precision")):
        low, high = interval[key]
        lines.append(f"{name:<12}{test[key]:.3f} [{low:.3f}, {high:.3f}]{'':<12}"
                     f"{cv['out_of_fold'][key]:<22.3f}{baseline[key]:>9.3f}")
    flagged = [name for name, s in result["slices"].items() if s["flagged"]]
    lines += ["", "One held-out split is a noisy estimate: `heart_disease.py evaluate` "
              "cross-validates the whole procedure.",
              "Slices below overall accuracy: " + (", ".join(flagged) if flagged else "none"),
              f"Artifacts: {Path(result['artifacts']['model.onnx']).parent}"]
    if result["run_id"]:
        lines.append(f"MLflow run: {result['run_id']}")
    return "\n".join(lines)


def _train(args: argparse.Namespace) -> dict[str, Any]:
    # pylint: disable-next=import-outside-toplevel  # scikit-learn, MLflow: slow, train only
    from heart_data import DEFAULT_DATA_URL
    # pylint: disable-next=import-outside-toplevel
    from training import TrainConfig, train
    # pylint: disable-next=import-outside-toplevel  # joblib: not for predict
    from heart_workers import quiet_workers

    config = TrainConfig(
        data_path=args.data_path,
        data_url=os.environ.get("HEART_DATA_URL", DEFAULT_DATA_URL),
        data_sha256=os.environ.get("HEART_DATA_SHA256") or None,
        cache_dir=args.cache_dir,
        output_dir=args.output_dir,
        tracking_uri=args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI",
                                                         DEFAULT_TRACKING_URI),
        experiment=args.experiment,
        test_size=args.test_size,
        tuning=args.tuning,
        search=args.search,
        n_trials=args.n_trials,
        model=args.model,
        cv=args.cv,
        seed=args.seed,
        storage=args.storage,
        track=not args.no_tracking,
        min_recall=args.min_recall,
    )
    with quiet_workers():  # Ctrl-C reaches the command, not its worker processes
        return train(config).summary()


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    # pylint: disable=import-outside-toplevel  # scikit-learn: slow, not for predict
    from heart_data import DEFAULT_DATA_URL
    from heart_fit import ProcedureSettings
    from heart_nested_cv import evaluate
    from heart_workers import quiet_workers

    settings = ProcedureSettings(model=args.model, tuning=args.tuning, search=args.search,
                                 n_trials=args.n_trials, folds=args.cv, seed=args.seed,
                                 min_recall=args.min_recall)
    with quiet_workers():  # Ctrl-C reaches the command, not its worker processes
        return evaluate(args.data_path, os.environ.get("HEART_DATA_URL", DEFAULT_DATA_URL),
                        args.cache_dir, settings, repeats=args.repeats, folds=args.folds)


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, refusing ``--option=--``: Python 3.11's argparse turns that
    value into an empty list that no ``type`` check sees (it ended in a traceback)."""
    for arg in argv:
        if arg.startswith("-") and arg.endswith("=--"):
            parser.error(f"argument {arg[:-3]}: '--' is not a value")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = parse_arguments(build_parser(), sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with handle_signals():
            return _run(args)
    # Interrupts first: a signal can land while a heavy module is half imported, and then
    # user_errors() (which imports them) must not run.
    except Interrupted as exc:
        print(f"error: interrupted by {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except user_errors(args.command) as exc:
        if args.log_level == "DEBUG":
            logger.exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    """Run one subcommand; errors propagate to main()."""
    if args.command in ("train", "evaluate"):
        # pylint: disable-next=import-outside-toplevel  # .env configures training only
        from dotenv import load_dotenv
        load_dotenv()
    if args.command == "train":
        result = _train(args)
        print(json.dumps(result, default=str) if args.format == "json"
              else render_training(result))
    elif args.command == "evaluate":
        # pylint: disable-next=import-outside-toplevel
        from heart_nested_cv import render
        summary = _evaluate(args)
        print(json.dumps(summary) if args.format == "json" else render(summary))
    else:
        scores = predict(args.model, read_patients(args.input))
        print(json.dumps(scores) if args.format == "json" else "\n".join(
            f"patient {i}: probability {s['probability']:.3f} -> "
            f"{'heart disease' if s['label'] else 'no heart disease'}"
            for i, s in enumerate(scores, start=1)))
    return 0


if __name__ == "__main__":
    exit_process(main())
