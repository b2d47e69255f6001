"""Train a heart-disease classifier with data checks, search, tracking and ONNX export; predict.

Examples:
    python heart_disease.py train
    python heart_disease.py train --data-path heart.csv --tuning --search bayesian --n-trials 30
    python heart_disease.py predict --model artifacts/model.onnx --input patients.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from data_checks import DataValidationError
from export import ExportError, ModelFileError, PatientValidationError, predict, read_patients
from heart_artifacts import ArtifactError
from heart_data import DEFAULT_DATA_URL, DataSourceError
from heart_limits import (MAX_CV, MAX_SEED, MAX_TRIALS, HelpFormatter, SettingsError, fraction,
                          int_range, non_empty)
from heart_signals import Interrupted, exit_process, handle_signals
from modeling import FAMILIES
from search import STRATEGIES
from tracking import TrackingError

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT_DIR = PROJECT_DIR / "artifacts"
DEFAULT_TRACKING_URI = f"sqlite:///{PROJECT_DIR / 'mlflow.db'}"


USER_ERRORS = (DataSourceError, DataValidationError, PatientValidationError, ModelFileError,
               ExportError, FileNotFoundError, ArtifactError, SettingsError, TrackingError)
HELP = HelpFormatter


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
    train.add_argument("--data-path", type=non_empty,
                       help="CSV in the 918-row schema, local or http(s) "
                       "(default: the UCI archive from $HEART_DATA_URL)")
    train.add_argument("--test-size", type=fraction, default=0.2,
                       help="share of patients held out for the test set, in (0, 1); it must "
                       "leave enough patients of each class for the split and the folds")
    train.add_argument("--tuning", action="store_true", help="search hyperparameters")
    train.add_argument("--search", choices=STRATEGIES, default="bayesian",
                       help="hyperparameter search strategy, with --tuning")
    train.add_argument("--n-trials", type=int_range(1, MAX_TRIALS), default=30,
                       help=f"trials for random and bayesian search, 1 to {MAX_TRIALS}")
    train.add_argument("--model", choices=("auto", *FAMILIES), default="auto",
                       help="model family; auto picks the best by cross-validation")
    train.add_argument("--cv", type=int_range(2, MAX_CV), default=5,
                       help=f"cross-validation folds, 2 to {MAX_CV}")
    train.add_argument("--seed", type=int_range(0, MAX_SEED), default=42,
                       help=f"random seed, 0 to {MAX_SEED}")
    train.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR,
                       help="folder for the artifacts; other files in it are left alone")
    train.add_argument("--cache-dir", type=Path, default=PROJECT_DIR / "data",
                       help="folder for the downloaded UCI archive")
    train.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI "
                       f"or {DEFAULT_TRACKING_URI})")
    train.add_argument("--experiment", type=non_empty, default="heart-disease",
                       help="MLflow experiment name")
    train.add_argument("--storage", help="Optuna storage URL shared by several search workers")
    train.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")

    predict_cmd = commands.add_parser("predict", parents=[common], formatter_class=HELP,
                                      help="score patients with a trained model")
    predict_cmd.add_argument("--model", type=Path, required=True, help="model.onnx or model.joblib")
    predict_cmd.add_argument("--input", type=Path, required=True, help="patients .csv or .json")
    return parser


def render_training(result: dict[str, Any]) -> str:
    """Format a training summary for people."""
    test, baseline = result["test"], result["baseline"]
    search = result["search"]
    lines = [
        f"Model:    {result['model']}"
        + (f" ({search['strategy']} search, {search['trials']} trials)" if search else ""),
        f"CV ROC AUC: {result['cv']['mean']:.3f} ± {result['cv']['std']:.3f}",
        "",
        f"{'test set':<22}{'model':>8}{'baseline':>10}",
        f"{'accuracy':<22}{test['accuracy']:>8.3f}{baseline['accuracy']:>10.3f}",
        f"{'ROC AUC':<22}{test['roc_auc']:>8.3f}{baseline['roc_auc']:>10.3f}",
        f"{'precision / recall':<22}{test['precision']:>8.3f} / {test['recall']:.3f}",
        "",
    ]
    flagged = [name for name, s in result["slices"].items() if s["flagged"]]
    lines.append("Slices below overall accuracy: " + (", ".join(flagged) if flagged else "none"))
    lines.append(f"Artifacts: {Path(result['artifacts']['model.onnx']).parent}")
    if result["run_id"]:
        lines.append(f"MLflow run: {result['run_id']}")
    return "\n".join(lines)


def _train(args: argparse.Namespace) -> dict[str, Any]:
    # pylint: disable-next=import-outside-toplevel  # scikit-learn, MLflow: slow, train only
    from training import TrainConfig, train

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
    )
    return train(config)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    load_dotenv()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with handle_signals():
            return _run(args)
    except USER_ERRORS as exc:
        if args.log_level == "DEBUG":
            logger.exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"error: interrupted by {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    """Run one subcommand; errors propagate to main()."""
    if args.command == "train":
        result = _train(args)
        print(json.dumps(result, default=str) if args.format == "json"
              else render_training(result))
    else:
        scores = predict(args.model, read_patients(args.input))
        print(json.dumps(scores) if args.format == "json" else "\n".join(
            f"patient {i}: probability {s['probability']:.3f} -> "
            f"{'heart disease' if s['label'] else 'no heart disease'}"
            for i, s in enumerate(scores, start=1)))
    return 0


if __name__ == "__main__":
    exit_process(main())
