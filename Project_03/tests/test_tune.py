"""A search shared by many workers: exactly the budget, each grid point once, a dead worker's trial
failed and redone, a study of other data refused; on SQLite, the journal file and PostgreSQL."""

from __future__ import annotations

import collections
import itertools
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from heart_reliability_kit import CliProcess
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from heart.errors import StudyError
from heart.search_space import contains, grid_points, list_candidates, suggest
from heart.storage import open_storage
from heart.study import SharedStudy, StudyPlan, tickets_for
from heart.tuning import Share, run_worker
from heart_disease import main

FAMILY = "logistic_regression"
PRINTS = {"data": "d" * 64, "folds": "f" * 64, "search": "s" * 64}


def fake_score(params: dict[str, Any]) -> tuple[float, float]:
    """A deterministic score that depends on the parameters, without fitting anything."""
    return (hash(repr(sorted(params.items()))) % 1000) / 1000, 0.0


def make_plan(strategy: str = "random", n_trials: int = 6, seed: int = 0,
              fingerprint: dict[str, str] | None = None) -> StudyPlan:
    """A plan over the logistic regression's space."""
    return StudyPlan(strategy, FAMILY, seed, tickets_for(strategy, FAMILY, n_trials, seed),
                     fingerprint or PRINTS)


def work(url: str, plan: StudyPlan, score=fake_score, name: str = "heart") -> Share:
    """One worker in this process, until the study holds its budget."""
    shared = SharedStudy(url, name, plan)
    return run_worker(shared, lambda trial: suggest(trial, FAMILY), score)


def count_states(url: str, plan: StudyPlan, name: str = "heart") -> dict[str, int]:
    """How many of the study's trials are in each state."""
    study = SharedStudy(url, name, plan).study
    return dict(collections.Counter(t.state.name for t in study.trials))


@pytest.mark.parametrize("strategy", ["random", "bayesian", "grid", "list"])
def test_one_worker_runs_exactly_the_budget(journal_url: str, strategy: str) -> None:
    """A lone worker finishes every ticket once: n trials, or every grid or list point."""
    storage_url = journal_url
    plan = make_plan(strategy)
    share = work(storage_url, plan)
    assert share.finished == plan.budget == len(share.ran)
    study = SharedStudy(storage_url, "heart", plan).study
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(study.trials) == len(done) == plan.budget
    assert all(contains(FAMILY, t.params) for t in done)
    if strategy == "grid":
        axes = grid_points(FAMILY)
        every = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
        assert sorted(map(repr, (t.params for t in done))) == sorted(map(repr, every))
    if strategy == "list":
        assert [t.params for t in done] == list_candidates(FAMILY)


def test_a_worker_on_a_finished_study_runs_no_trial(storage_url: str) -> None:
    """Once the study holds its budget, another worker only reports the best trial."""
    plan = make_plan(n_trials=4)
    first = work(storage_url, plan)

    def must_not_run(params: dict[str, Any]) -> tuple[float, float]:
        raise AssertionError(f"ran a trial with {params}")

    again = work(storage_url, plan, score=must_not_run)
    assert not again.ran and again.finished == 4
    assert again.best is not None and first.best is not None
    assert (again.best.number, again.best.value) == (first.best.number, first.best.value)


def test_the_best_trial_is_the_highest_score_and_the_first_among_equals(storage_url: str) -> None:
    """Ties go to the lowest trial number, so the choice never depends on the storage's order."""
    plan = make_plan(n_trials=5)
    scores = iter([0.7, 0.9, 0.9, 0.8, 0.9])
    share = work(storage_url, plan, score=lambda params: (next(scores), 0.0))
    assert share.best is not None and (share.best.number, share.best.value) == (1, 0.9)


def test_an_interrupted_trial_is_failed_and_its_ticket_queued_again(storage_url: str) -> None:
    """Ctrl-C mid-trial: that trial is failed (it does not count) and the next run redoes it."""
    plan = make_plan("grid")
    calls = itertools.count()

    def interrupted_third(params: dict[str, Any]) -> tuple[float, float]:
        if next(calls) == 2:
            raise KeyboardInterrupt
        return fake_score(params)

    with pytest.raises(KeyboardInterrupt):
        work(storage_url, plan, score=interrupted_third)
    assert count_states(storage_url, plan) == {"COMPLETE": 2, "FAIL": 1,
                                               "WAITING": plan.budget - 2}
    share = work(storage_url, plan)
    assert share.finished == plan.budget
    study = SharedStudy(storage_url, "heart", plan).study
    done = [repr(t.params) for t in study.get_trials(states=(TrialState.COMPLETE,))]
    assert len(done) == len(set(done)) == plan.budget  # the interrupted point, once, later
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert [t.user_attrs["failed_because"] for t in failed] == ["interrupted"]


def test_an_error_in_a_trial_is_raised_after_giving_its_ticket_back(storage_url: str) -> None:
    """A trial that cannot be scored stops the worker with its error; nothing is lost."""
    plan = make_plan(n_trials=3)

    def broken(params: dict[str, Any]) -> tuple[float, float]:
        raise ValueError(f"cannot fit {params}")

    with pytest.raises(ValueError, match="cannot fit"):
        work(storage_url, plan, score=broken)
    assert count_states(storage_url, plan) == {"FAIL": 1, "WAITING": 3}


def test_a_score_that_is_not_a_number_is_an_error_not_a_trial(storage_url: str) -> None:
    """NaN (every fold failed) is refused instead of being recorded or silently skipped."""
    plan = make_plan(n_trials=2)
    with pytest.raises(StudyError, match="scored nan"):
        work(storage_url, plan, score=lambda params: (float("nan"), 0.0))
    assert count_states(storage_url, plan) == {"FAIL": 1, "WAITING": 2}


def test_a_lost_ticket_is_queued_again_when_nothing_else_is_left(storage_url: str) -> None:
    """A worker killed between failing a trial and queueing its ticket again loses that ticket;
    the last worker notices the study is short of its budget and queues it."""
    plan = make_plan("grid")
    shared = SharedStudy(storage_url, "heart", plan)
    taken = shared.take_ticket()
    assert taken is not None
    shared.storage.set_trial_state_values(shared.trial_id(taken.number), TrialState.FAIL)
    assert len(shared.missing()) == 1
    share = work(storage_url, plan)
    assert share.finished == plan.budget
    done = [repr(t.params) for t in shared.trials(TrialState.COMPLETE)]
    assert len(set(done)) == plan.budget


def test_a_study_of_other_data_is_refused_on_every_storage(storage_url: str) -> None:
    """The fingerprint survives the storage's round trip and is compared on every worker."""
    work(storage_url, make_plan(n_trials=2))
    with pytest.raises(StudyError, match="its data fingerprint is dddddddddddd, this run's 0000"):
        SharedStudy(storage_url, "heart", make_plan(n_trials=2, fingerprint={**PRINTS,
                                                                            "data": "0" * 64}))


@pytest.mark.parametrize("part", ["data", "folds", "search"])
def test_a_study_scored_on_something_else_is_refused(journal_url: str, part: str) -> None:
    """Trials scored on other rows, folds or another search are never mixed in."""
    storage_url = journal_url
    work(storage_url, make_plan(n_trials=2))
    other = {**PRINTS, part: "0" * 64}
    with pytest.raises(StudyError, match=f"its {part} fingerprint is ") as raised:
        SharedStudy(storage_url, "heart", make_plan(n_trials=2, fingerprint=other))
    assert "\n" not in str(raised.value)


def test_a_study_with_another_budget_is_refused(storage_url: str) -> None:
    """--n-trials names the study's budget; a different one is a mistake, not an extension."""
    work(storage_url, make_plan(n_trials=2))
    with pytest.raises(StudyError, match="budget of 2 trials, this run asks for 5"):
        SharedStudy(storage_url, "heart", make_plan(n_trials=5))


def test_a_study_made_by_another_program_is_refused(storage_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A study without this program's fingerprint (or left half made) is not used."""
    monkeypatch.setattr("heart.study.READY_TIMEOUT", 0.1)
    SharedStudy(storage_url, "heart", make_plan())  # creates the storage's tables
    shared = SharedStudy(storage_url, "heart", make_plan())
    optuna.create_study(storage=shared.storage, study_name="foreign")
    with pytest.raises(StudyError, match="'foreign' .* was not made by this program"):
        SharedStudy(storage_url, "foreign", make_plan())


def test_random_points_depend_on_the_seed_and_trial_number_only(tmp_path) -> None:
    """Trial n samples with (seed, n): two studies with one seed try the same points in order."""
    def points(name: str, seed: int) -> list[dict[str, Any]]:
        url, plan = f"journal:{tmp_path / name}", make_plan(n_trials=5, seed=seed)
        work(url, plan)
        return [t.params for t in SharedStudy(url, "heart", plan).study.trials]

    first = points("a", seed=3)
    assert points("b", seed=3) == first and len({repr(p) for p in first}) == 5
    assert points("c", seed=4) != first


@pytest.mark.parametrize("url, message", [
    ("sqlite:///{tmp}/missing/study.db", "folder .*missing does not exist"),
    ("journal:{tmp}/missing/study.log", "folder .*missing does not exist"),
    ("sqlite:///{tmp}", "is a folder"),
    ("postgresql://nobody:secret@127.0.0.1:9/heart", "nobody:\\*\\*\\*@127.0.0.1:9"),
    ("nonsense", "--storage nonsense: "),
])
def test_a_storage_that_cannot_be_opened_is_one_line(tmp_path, url: str, message: str) -> None:
    """Missing folders, folders, unreachable servers and garbage fail at once, passwords hidden."""
    with pytest.raises(StudyError, match=message) as raised:
        SharedStudy(url.format(tmp=tmp_path), "heart", make_plan())
    assert "\n" not in str(raised.value) and "secret" not in str(raised.value)


@pytest.mark.parametrize("name, content, message", [
    ("study.journal", b"not json\n", "not an Optuna journal"),
    ("study.db", b"not a database", "is not a SQLite database"),
])
def test_a_file_that_is_not_a_storage_is_refused_untouched(tmp_path, name: str, content: bytes,
                                                          message: str) -> None:
    """Pointing --storage at some other file is one line, and the file keeps its bytes."""
    path = tmp_path / name
    path.write_bytes(content)
    url = f"journal:{path}" if name.endswith(".journal") else f"sqlite:///{path}"
    with pytest.raises(StudyError, match=message):
        SharedStudy(url, "heart", make_plan())
    assert path.read_bytes() == content


def test_the_study_records_its_plan_for_people_reading_the_storage(storage_url: str) -> None:
    """`optuna studies` or the dashboard show what a study is: strategy, family, seed, budget."""
    study = SharedStudy(storage_url, "heart", make_plan("grid", seed=7)).study
    assert study.user_attrs["plan"] == {"strategy": "grid", "family": FAMILY, "seed": 7,
                                        "budget": len(tickets_for("grid", FAMILY, 0, 7))}
    assert study.user_attrs["fingerprint"] == PRINTS


def tune_worker(url: str, data: Path, *extra: str) -> CliProcess:
    """``heart_disease.py tune`` in its own process: a fast family on the synthetic patients."""
    return CliProcess("tune", "--storage", url, "--study", "shared", "--data-path", data,
                      "--model", "logistic_regression", "--cv", "3", "--format", "json", *extra)


def finish(worker: CliProcess) -> dict[str, Any]:
    """Wait for a worker; check it succeeded; return its share as printed."""
    code = worker.wait()
    assert code == 0, worker.stderr
    assert worker.process.stdout is not None
    return json.loads(worker.process.stdout.read())


def stored_trials(url: str) -> list[optuna.trial.FrozenTrial]:
    """Every trial of the study ``shared``, straight from the storage."""
    return optuna.load_study(study_name="shared", storage=open_storage(url)).trials


@pytest.mark.slow
def test_three_tune_processes_run_the_grid_once(storage_url: str, patients_csv: Path) -> None:
    """Three workers at once: exactly the budget, every trial by one worker, no grid point
    twice, and each worker sees the same finished study. (Random, Bayesian and list tickets are
    taken the same way; only what a ticket holds differs.)"""
    workers = [tune_worker(storage_url, patients_csv, "--search", "grid") for _ in range(3)]
    shares = [finish(worker) for worker in workers]
    budget = shares[0]["budget"]
    assert budget == len(tickets_for("grid", FAMILY, 0, 0))
    assert sum(share["ran"] for share in shares) == budget
    assert all(share["study_finished"] == budget for share in shares)
    ran = sorted(number for share in shares for number in share["trials"])
    assert ran == list(range(budget))  # every ticket once, by exactly one worker
    trials = stored_trials(storage_url)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * budget
    assert len({repr(t.params) for t in trials}) == budget
    assert len({share["best"]["number"] for share in shares}) == 1


@pytest.mark.slow
def test_a_worker_killed_mid_trial_is_replaced_by_the_others(storage_url: str,
                                                             patients_csv: Path) -> None:
    """kill -9 mid-trial: that trial stays failed (it does not count), and once its heartbeat
    has been still for --stale-after the other workers run its ticket and finish the budget."""
    slow = ("--model", "random_forest", "--search", "random", "--n-trials", "6",
            "--stale-after", "4")
    workers = [tune_worker(storage_url, patients_csv, *slow) for _ in range(3)]
    pids = {worker.process.pid: worker for worker in workers}
    victim: dict[str, int] = {}

    def a_trial_is_running() -> bool:
        try:
            running = [t for t in stored_trials(storage_url) if t.state == TrialState.RUNNING]
        except (KeyError, StudyError, ValueError):  # the study is still being made
            return False
        for trial in running:
            pid = int(str(trial.user_attrs.get("worker", ":0")).rsplit(":", 1)[1])
            if pid in pids:
                victim.update(pid=pid, number=trial.number)
                return True
        return False

    workers[0].wait_for(a_trial_is_running, timeout=180)
    os.kill(victim["pid"], signal.SIGKILL)
    killed = pids.pop(victim["pid"])
    assert killed.wait() == -signal.SIGKILL
    started = time.monotonic()
    shares = [finish(worker) for worker in pids.values()]
    assert time.monotonic() - started < 120
    trials = stored_trials(storage_url)
    states = collections.Counter(t.state for t in trials)
    assert states == {TrialState.COMPLETE: 6, TrialState.FAIL: 1}
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [victim["number"]]
    assert failed[0].user_attrs["failed_because"] == "no heartbeat for 4 s"
    assert sum(len(share["revived"]) for share in shares) == 1
    assert all(share["study_finished"] == 6 for share in shares)


def tune_args(url: str, data: Path, *extra: str) -> list[str]:
    """``tune``'s arguments for a quick random search on the synthetic patients."""
    return ["tune", "--storage", url, "--study", "shared", "--data-path", str(data), "--model",
            "logistic_regression", "--search", "random", "--n-trials", "4", "--cv", "3", *extra]


def test_train_after_the_workers_runs_no_trial_and_publishes_one_model(
        journal_url: str, patients_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers search; train takes the study's best, fits, exports and tracks once."""
    assert main(tune_args(journal_url, patients_csv, "--format", "json")) == 0
    share = json.loads(capsys.readouterr().out)
    assert (share["ran"], share["study_finished"]) == (4, 4)

    def no_more_trials(*args: Any) -> tuple[float, float]:
        raise AssertionError(f"train ran a trial: {args[3]}")

    monkeypatch.setattr("heart.search.cv_score", no_more_trials)
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = main(["train", "--tuning", "--storage", journal_url, "--study", "shared",
                 "--data-path", str(patients_csv), "--model", "logistic_regression", "--search",
                 "random", "--n-trials", "4", "--cv", "3", "--output-dir", str(tmp_path / "out"),
                 "--tracking-uri", tracking, "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["search"]["trials"] == 4 and result["params"] == share["best"]["params"]
    assert result["search"]["best_cv"] == share["best"]["cv_mean"]
    assert (tmp_path / "out" / "model.onnx").is_file()
    experiment = MlflowClient(tracking).get_experiment_by_name("heart-disease")
    runs = MlflowClient(tracking).search_runs([experiment.experiment_id])
    assert [run.info.run_id for run in runs] == [result["run_id"]]


def test_tune_on_other_data_is_one_error_line(journal_url: str, patients_csv: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """A worker started with another --seed (so another split) is refused before any trial."""
    assert main(tune_args(journal_url, patients_csv)) == 0
    capsys.readouterr()
    assert main(tune_args(journal_url, patients_csv, "--seed", "7")) == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        err.strip().splitlines()[-1]]
    assert "study 'shared' was scored on other training rows" in err and "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["tune", "--study", "s"], "the following arguments are required: --storage"),
    (["tune", "--storage", "sqlite:///s.db", "--model", "auto"], "invalid choice: 'auto'"),
    (["tune", "--storage", "sqlite:///s.db", "--stale-after", "0"], "must be in [1, 86400]"),
    (["tune", "--storage", "sqlite:///s.db", "--jobs", "0"], "--jobs: must be 1 to"),
])
def test_tune_usage_errors_exit_2(args: list[str], message: str,
                                  capsys: pytest.CaptureFixture) -> None:
    """A missing storage, a family tune cannot search, nonsense numbers: usage errors."""
    with pytest.raises(SystemExit) as raised:
        main(args)
    assert raised.value.code == 2 and message in capsys.readouterr().err
