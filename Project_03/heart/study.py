"""One Optuna study shared by many workers: its storage, its budget as tickets, its fingerprint.

A study is created once, by the first worker, with its whole budget as *tickets*: waiting trials
in Optuna's trial queue, one per grid or list point, or one empty ticket per random or Bayesian
trial (its parameters are sampled when a worker takes it). A worker takes one ticket at a time,
and taking one is atomic (Optuna moves a waiting trial to running for one process only; SQLite
needs a file lock for that, measured: 7 of 200 tickets taken twice by 3 processes without one),
so the study never finishes more trials than its budget and runs every grid point once. A ticket
whose trial fails (Ctrl-C, an error, a worker killed) is put back as a new waiting trial.

The study also records a fingerprint of what its scores mean: the training rows, the folds and the
search. A worker whose fingerprint differs is refused, so trials scored on other data are never
mixed in.

Where the study lives, and how a storage is opened: :mod:`heart.storage`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import socket
import time
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from heart.errors import StudyError
from heart.search_space import grid_points, list_candidates
from heart.storage import STORAGE_ERRORS, exclusive, open_storage, safe_url

logger = logging.getLogger(__name__)

READY_TIMEOUT = 60.0  # seconds a new study may take to be filled by the worker that created it
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # who ran a trial, as its user attr


@dataclass(frozen=True)
class StudyPlan:
    """What a study searches: its strategy, family and seed, its tickets and its fingerprint."""

    strategy: str
    family: str
    seed: int
    tickets: list[dict[str, Any]]
    fingerprint: dict[str, str] = field(default_factory=dict)

    @property
    def budget(self) -> int:
        """How many finished trials the study holds once its search is done."""
        return len(self.tickets)


def tickets_for(strategy: str, family: str, n_trials: int, seed: int) -> list[dict[str, Any]]:
    """The budget as tickets: every grid point (in a seeded order), every list point, or
    ``n_trials`` empty tickets whose parameters are sampled when taken."""
    if strategy == "grid":
        axes = grid_points(family)
        points: list[dict[str, Any]] = [{}]
        for name, values in axes.items():
            points = [{**point, name: value} for point in points for value in values]
        random.Random(seed).shuffle(points)
        return points
    if strategy == "list":
        return list_candidates(family)
    return [{} for _ in range(n_trials)]


def digest(payload: Any) -> str:
    """SHA-256 of ``payload``'s canonical JSON (or of the text itself)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True,
                                                                default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SharedStudy:
    """An Optuna study and the operations workers share on it: take, give back, top up."""

    def __init__(self, url: str, name: str, plan: StudyPlan) -> None:
        self.url, self.name, self.plan = url, name, plan
        self.storage = open_storage(url)
        self.study = self._create_or_load()
        self.study_id = self.storage.get_study_id_from_name(name)

    # -- opening ---------------------------------------------------------------------------

    def _create_or_load(self) -> optuna.Study:
        try:
            study = optuna.create_study(storage=self.storage, study_name=self.name,
                                        direction="maximize")
        except DuplicatedStudyError:
            study = optuna.load_study(storage=self.storage, study_name=self.name)
            self._wait_until_ready(study)
            self._check_matches(study)
            return study
        try:  # we created it: fill it, or leave nothing half made behind
            study.set_user_attr("plan", self._plan_attrs())
            study.set_user_attr("fingerprint", self.plan.fingerprint)
            for ticket in self.plan.tickets:
                study.enqueue_trial(ticket)
            study.set_user_attr("ready", True)
        except BaseException:
            with suppress(*STORAGE_ERRORS):  # the first error is the one to report
                optuna.delete_study(study_name=self.name, storage=self.storage)
            raise
        logger.info("Created study %r in %s: %d %s trials of %s", self.name, safe_url(self.url),
                    self.plan.budget, self.plan.strategy, self.plan.family)
        return study

    def _plan_attrs(self) -> dict[str, Any]:
        return {"strategy": self.plan.strategy, "family": self.plan.family,
                "seed": self.plan.seed, "budget": self.plan.budget}

    def _wait_until_ready(self, study: optuna.Study) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not study.user_attrs.get("ready"):
            if time.monotonic() > deadline:
                raise StudyError(
                    f"study {self.name!r} in {safe_url(self.url)} was not made by this program, "
                    "or its first worker stopped while creating it; use another --study (or "
                    f"delete it: optuna delete-study --storage URL --study-name {self.name})")
            time.sleep(0.5)

    def _check_matches(self, study: optuna.Study) -> None:
        """Refuse a study whose scores mean something else than this run's would."""
        stored = study.user_attrs.get("fingerprint", {})
        hints = {"data": "other training rows (--data-path, --test-size, --seed)",
                 "folds": "other folds (--cv, --seed)",
                 "search": "another search (--model, --search, --seed, the search space)"}
        for part, hint in hints.items():
            if stored.get(part) != self.plan.fingerprint.get(part):
                raise StudyError(
                    f"study {self.name!r} was scored on {hint}: its {part} fingerprint is "
                    f"{str(stored.get(part))[:12]}, this run's {self.plan.fingerprint[part][:12]}; "
                    "use another --study or the study's settings")
        budget = study.user_attrs.get("plan", {}).get("budget")
        if budget != self.plan.budget:
            raise StudyError(f"study {self.name!r} has a budget of {budget} trials, this run "
                             f"asks for {self.plan.budget}: pass --n-trials {budget} or use "
                             "another --study")

    # -- sharing ---------------------------------------------------------------------------

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the SQLite file's lock (servers and the journal order operations themselves)."""
        return exclusive(self.url)

    def trials(self, *states: TrialState) -> list[FrozenTrial]:
        """The study's trials in these states (all of them if none given)."""
        return self.study.get_trials(deepcopy=False, states=states or None)

    def trial_id(self, number: int) -> int:
        """The storage's id of trial ``number``."""
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def take_ticket(self) -> optuna.Trial | None:
        """Take one waiting trial for this process, or None when the queue is empty."""
        with self.exclusive():
            for waiting in self.trials(TrialState.WAITING):
                trial_id = self.trial_id(waiting.number)
                try:
                    if self.storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                        self.storage.set_trial_user_attr(trial_id, "worker", WORKER)
                        # What Study.ask() does with a popped trial; ask() itself would create an
                        # extra trial, outside the budget, whenever the queue ran empty.
                        return optuna.Trial(self.study, trial_id)
                except UpdateFinishedTrialError:
                    continue
        return None

    def give_back(self, number: int, reason: str) -> bool:
        """Fail running trial ``number`` and queue its ticket again; False if it was not running
        any more (another worker got there first)."""
        trial_id = self.trial_id(number)
        with self.exclusive():
            try:  # a finished trial takes no attribute: say why before failing it
                self.storage.set_trial_user_attr(trial_id, "failed_because", reason)
                if not self.storage.set_trial_state_values(trial_id, TrialState.FAIL):
                    return False
            except UpdateFinishedTrialError:
                return False
            ticket = self.storage.get_trial(trial_id).system_attrs.get("fixed_params", {})
            self.study.enqueue_trial(ticket, user_attrs={"retry_of": number})
        logger.warning("Trial %d failed (%s); its ticket is queued again", number, reason)
        return True

    def missing(self) -> list[dict[str, Any]]:
        """The plan's tickets the study has lost (a worker killed while giving one back): not
        finished, queued or running under any trial."""
        remaining = list(self.plan.tickets)
        for trial in self.trials(TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING,
                                 TrialState.RUNNING):
            ticket = trial.system_attrs.get("fixed_params", {})
            if ticket in remaining:
                remaining.remove(ticket)
        return remaining

    def top_up(self) -> int:
        """Queue the missing tickets again; call only when nothing is queued or running."""
        missing = self.missing()
        for ticket in missing:
            self.study.enqueue_trial(ticket, user_attrs={"top_up": True})
        return len(missing)
