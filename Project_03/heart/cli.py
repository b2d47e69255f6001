"""The command line's plumbing: the parser with one subparser per command, and the boundary.

The entry script (``heart_disease.py``) holds the commands (the story); this module parses the
arguments, turns them into the config dataclasses of :mod:`heart.config` (whose fields hold every
default), configures logging once, and runs the chosen command inside :func:`run`, the one place
where errors become exit codes. It imports nothing heavy: ``predict`` must start fast.

To add a command: write ``_add_NAME(commands, common)`` beside the others, call it in
:func:`build_parser`, and add the command function to ``COMMANDS`` in the entry script.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dotenv import load_dotenv

from heart.arguments import ArgumentParser, float_range, int_range, non_empty, non_empty_path
from heart.config import (TUNE_JOBS, DataSource, EvaluateConfig, ProcedureSettings,
                          SearchSettings, ServeConfig, TrainConfig, TuneConfig)
from heart.errors import HeartError
from heart.limits import MAX_CV, MAX_REPEATS, MAX_SEED, MAX_TRIALS
from heart.search_space import FAMILIES, STRATEGIES
from heart.signals import EXIT_SIGINT, Interrupted, handle_signals

logger = logging.getLogger(__name__)

EXIT_ERROR = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_STALE_AFTER = 86400.0  # a day: a longer trial is not one this project runs
DESCRIPTION = ("Train a heart-disease classifier (data checks, search, calibration, ONNX export, "
               "MLflow tracking and registry), evaluate the whole training procedure by nested "
               "cross-validation, search its hyperparameters with many workers at once, score "
               "patients with a trained model, and serve it over HTTP.")
Command = Callable[..., int]
Subparsers = Any  # what add_subparsers returns; argparse keeps its class private


def build_parser() -> ArgumentParser:
    """Return the parser: one subparser per command, each with ``--log-level`` and ``--format``."""
    common = ArgumentParser(add_help=False)
    common.add_argument("--format", choices=("table", "json"), default="table",
                        help="results for people (table) or programs (json), on stdout")
    common.add_argument("--log-level", choices=LOG_LEVELS, default="INFO",
                        help="log detail on stderr; DEBUG also shows the traceback of an error")
    parser = ArgumentParser(description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(commands, common)
    _add_evaluate(commands, common)
    _add_tune(commands, common)
    _add_predict(commands, common)
    _add_serve(commands, common)
    return parser


def _add_procedure_flags(command: argparse.ArgumentParser) -> None:
    """Flags of the data and the training procedure, shared by train and evaluate."""
    command.add_argument("--data-path", type=non_empty,
                         help="CSV in the 918-row schema, local or http(s); "
                         "if omitted, the UCI archive from $HEART_DATA_URL")
    command.add_argument("--cache-dir", type=non_empty_path, default=DataSource.cache_dir,
                         help="folder for the downloaded UCI archive")
    command.add_argument("--model", choices=("auto", *FAMILIES), default=ProcedureSettings.model,
                         help="model family; auto picks the best by cross-validation (nested "
                         "cross-validation found that choice noisier than the soft vote: "
                         "RESULTS.md)")
    command.add_argument("--tuning", action="store_true", help="search hyperparameters")
    command.add_argument("--search", choices=STRATEGIES, default=ProcedureSettings.search,
                         help="grid, random, bayesian (Optuna TPE) or list; all search the "
                         "family's one space")
    command.add_argument("--n-trials", type=int_range(1, MAX_TRIALS),
                         default=ProcedureSettings.n_trials,
                         help=f"trials for random and bayesian search, 1 to {MAX_TRIALS}")
    command.add_argument("--cv", type=int_range(2, MAX_CV), default=ProcedureSettings.folds,
                         help=f"cross-validation folds for model choice and tuning, 2 to {MAX_CV}")
    command.add_argument("--seed", type=int_range(0, MAX_SEED), default=ProcedureSettings.seed,
                         help=f"random seed, 0 to {MAX_SEED}")
    command.add_argument("--min-recall", type=float_range(0, 1, include_low=False),
                         default=ProcedureSettings.min_recall,
                         help="pick the highest threshold whose CV recall is at least this, in "
                         "(0, 1] (default: threshold 0.5)")


def _add_train(commands: Subparsers, common: ArgumentParser) -> None:
    train = commands.add_parser("train", parents=[common],
                                help="check data, train, evaluate, export, track")
    _add_procedure_flags(train)
    train.add_argument("--test-size", type=float_range(0, 1, include_low=False,
                                                       include_high=False),
                       default=TrainConfig.test_size,
                       help="share of patients held out for the test set, in (0, 1); it must "
                       "leave enough patients of each class for the split and the folds")
    train.add_argument("--output-dir", type=non_empty_path, default=TrainConfig.output_dir,
                       help="folder for the artifacts; other files in it are left alone")
    train.add_argument("--tracking-uri", type=non_empty,
                       help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI "
                       f"or {TrainConfig.tracking_uri})")
    train.add_argument("--experiment", type=non_empty, default=TrainConfig.experiment,
                       help="MLflow experiment name")
    train.add_argument("--registered-model", type=model_name, metavar="NAME",
                       default=TrainConfig.registered_model,
                       help="register the model under NAME; the promotion gate gives the new "
                       "version the alias champion or challenger")
    _add_study_flags(train, required=False)
    train.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")


def model_name(text: str) -> str:
    """An argparse type: a registered model's name, usable in ``models:/NAME@ALIAS``."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text):
        raise argparse.ArgumentTypeError(
            f"must be letters, digits, '.', '_' or '-' (it goes into models:/NAME@ALIAS), "
            f"got {text!r}")
    return text


def _add_evaluate(commands: Subparsers, common: ArgumentParser) -> None:
    evaluate = commands.add_parser(
        "evaluate", parents=[common],
        help="repeated cross-validation of the whole training procedure, against the baseline")
    _add_procedure_flags(evaluate)
    evaluate.add_argument("--repeats", type=int_range(1, MAX_REPEATS),
                          default=EvaluateConfig.repeats,
                          help=f"repetitions of the outer cross-validation, 1 to {MAX_REPEATS}")
    evaluate.add_argument("--folds", type=int_range(2, MAX_CV), default=EvaluateConfig.folds,
                          help=f"outer folds, 2 to {MAX_CV}")


def _add_study_flags(command: argparse.ArgumentParser, required: bool) -> None:
    """Where a shared search's study lives: ``tune`` workers and ``train --tuning`` name it."""
    command.add_argument("--storage", type=non_empty, required=required,
                         help="Optuna storage shared by the search's workers: sqlite:///FILE "
                         "(one machine), postgresql://USER:PASSWORD@HOST/DB (many machines) or "
                         "journal:FILE (a folder every machine mounts)")
    command.add_argument("--study", type=non_empty,
                         help="the shared study's name (default: heart-disease-MODEL-SEARCH-"
                         "seedSEED-cvCV-dataFINGERPRINT, FINGERPRINT naming the training rows)")


def _add_tune(commands: Subparsers, common: ArgumentParser) -> None:
    tune = commands.add_parser(
        "tune", parents=[common],
        help="one worker of a search shared through --storage: start it on several cores or "
        "machines; together they run --n-trials once")
    _add_study_flags(tune, required=True)
    tune.add_argument("--data-path", type=non_empty,
                      help="CSV in the 918-row schema, local or http(s); "
                      "if omitted, the UCI archive from $HEART_DATA_URL")
    tune.add_argument("--cache-dir", type=non_empty_path, default=DataSource.cache_dir,
                      help="folder for the downloaded UCI archive")
    tune.add_argument("--model", choices=FAMILIES, default=ProcedureSettings.model,
                      help="model family whose hyperparameters are searched")
    tune.add_argument("--search", choices=STRATEGIES, default=ProcedureSettings.search,
                      help="grid, random, bayesian (Optuna TPE) or list")
    tune.add_argument("--n-trials", type=int_range(1, MAX_TRIALS),
                      default=SearchSettings.n_trials,
                      help=f"the study's budget for random and bayesian search (counted over "
                      f"every worker), 1 to {MAX_TRIALS}")
    tune.add_argument("--cv", type=int_range(2, MAX_CV), default=SearchSettings.folds,
                      help=f"cross-validation folds, 2 to {MAX_CV}")
    tune.add_argument("--seed", type=int_range(0, MAX_SEED), default=SearchSettings.seed,
                      help=f"random seed, 0 to {MAX_SEED}")
    tune.add_argument("--test-size", type=float_range(0, 1, include_low=False,
                                                      include_high=False),
                      default=TuneConfig.test_size,
                      help="share of patients held out, as train will; no trial sees them")
    tune.add_argument("--jobs", type=int_range(1, os.cpu_count() or 1), default=TUNE_JOBS,
                      help="folds fitted at once by this worker (start one worker per core "
                      "instead: trials are independent)")
    tune.add_argument("--stale-after", type=float_range(1, MAX_STALE_AFTER),
                      default=SearchSettings.stale_after,
                      help="seconds without a heartbeat after which another worker's trial is "
                      "presumed dead, failed and run again")
MODEL_HELP = ("a model.onnx (or, for predict, model.joblib) written by train, or a registered "
              "version: models:/NAME@ALIAS (models:/heart-disease@champion) or "
              "models:/NAME/VERSION")


def _add_tracking_uri(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument("--tracking-uri", type=non_empty,
                         help=f"MLflow tracking URI {what} (default: $MLFLOW_TRACKING_URI "
                         f"or {TrainConfig.tracking_uri})")


def _add_predict(commands: Subparsers, common: ArgumentParser) -> None:
    predict = commands.add_parser("predict", parents=[common],
                                  help="score patients with a trained model")
    predict.add_argument("--model", type=non_empty, required=True, help=MODEL_HELP)
    predict.add_argument("--input", type=non_empty_path, required=True,
                         help="patients .csv or .json")
    _add_tracking_uri(predict, "of a models:/ model")


def _add_serve(commands: Subparsers, common: ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common],
                                help="answer POST /predict over HTTP until SIGTERM or Ctrl-C")
    serve.add_argument("--model", type=non_empty, required=True, help=MODEL_HELP)
    _add_tracking_uri(serve, "of a models:/ model")
    serve.add_argument("--host", type=non_empty, default=ServeConfig.host,
                       help="address to listen on; 0.0.0.0 exposes the API to the network")
    serve.add_argument("--port", type=int_range(0, 65535), default=ServeConfig.port,
                       help="port to listen on, 0 to 65535 (0: any free port)")


def tracking_uri(args: argparse.Namespace) -> str:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else the SQLite store in this folder."""
    return (args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
            or TrainConfig.tracking_uri)


def _data_source(args: argparse.Namespace) -> DataSource:
    """The data flags, with $HEART_DATA_URL and $HEART_DATA_SHA256 (from ``.env`` too)."""
    load_dotenv()
    return DataSource(path=args.data_path, url=os.environ.get("HEART_DATA_URL") or DataSource.url,
                      sha256=os.environ.get("HEART_DATA_SHA256") or None,
                      cache_dir=args.cache_dir)


def _procedure(args: argparse.Namespace, storage: str | None = None,
               study: str | None = None) -> ProcedureSettings:
    return ProcedureSettings(model=args.model, tuning=args.tuning, search=args.search,
                             n_trials=args.n_trials, folds=args.cv, seed=args.seed,
                             storage=storage, study=study, min_recall=args.min_recall)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """``train``'s flags (and environment) as its config."""
    data = _data_source(args)
    return TrainConfig(
        data=data, procedure=_procedure(args, args.storage, args.study), test_size=args.test_size,
        output_dir=args.output_dir, experiment=args.experiment, track=not args.no_tracking,
        registered_model=args.registered_model, tracking_uri=tracking_uri(args))


def tune_config(args: argparse.Namespace) -> TuneConfig:
    """``tune``'s flags (and environment) as its config."""
    settings = SearchSettings(folds=args.cv, seed=args.seed, n_trials=args.n_trials,
                              storage=args.storage, n_jobs=args.jobs, study=args.study,
                              stale_after=args.stale_after)
    return TuneConfig(data=_data_source(args), model=args.model, search=args.search,
                      settings=settings, test_size=args.test_size)


def evaluate_config(args: argparse.Namespace) -> EvaluateConfig:
    """``evaluate``'s flags (and environment) as its config."""
    return EvaluateConfig(data=_data_source(args), procedure=_procedure(args),
                          repeats=args.repeats, folds=args.folds)


def run(commands: Mapping[str, Command], argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, then run ``commands[args.command](args)``; return the exit code.

    Expected errors (``HeartError``, ``OSError``) become one ``error:`` line and exit 1; Ctrl-C
    130, SIGTERM 143, a closed output pipe 141; anything else is a bug and keeps its traceback.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with handle_signals():
            code = commands[args.command](args)
            sys.stdout.flush()  # a closed pipe shows here, inside the guard, not at exit
            return code
    except KeyboardInterrupt as exc:
        print(f"error: interrupted ({str(exc) or 'SIGINT'})", file=sys.stderr)
        return exc.exit_code if isinstance(exc, Interrupted) else EXIT_SIGINT
    except BrokenPipeError:  # the reader went away (`| head`): nobody to tell
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (HeartError, OSError) as exc:
        if args.log_level == "DEBUG":
            logger.exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
