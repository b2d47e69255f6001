"""A search worker: runs trials of one shared study until the study holds its whole budget.

Start the same command in several processes or on several machines with one storage and study
name; each worker takes the study's tickets (see :mod:`heart.study`) one at a time, so together
they run exactly the budget, and each prints its share. While a trial runs, its worker beats: a
counter in the trial, raised every few seconds. A worker that finds nothing left to take keeps
watching the trials still running; one whose counter has not moved for ``stale_after`` seconds
(its worker was killed, or its machine lost) is failed and its ticket queued again, so the
remaining workers finish the budget. Staleness is measured on the watcher's own clock, so the
machines' clocks need not agree.

Every trial samples with its own seed (the study's seed and the trial's number): which worker
runs a trial does not change what it samples, and parallel workers never draw the same random
points.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

from heart.errors import StudyError
from heart.signals import deferred_signals
from heart.study import SharedStudy

logger = logging.getLogger(__name__)

Scorer = Callable[[dict[str, Any]], tuple[float, float]]
Suggest = Callable[[optuna.Trial], dict[str, Any]]


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker watches the others: a running trial whose heartbeat has not moved for
    ``stale_after`` seconds is presumed dead."""

    stale_after: float = 60.0

    @property
    def beat_every(self) -> float:
        """Seconds between two heartbeats of a running trial."""
        return self.stale_after / 6

    @property
    def poll_every(self) -> float:
        """Seconds between two looks at the others' trials while waiting for them."""
        return min(2.0, self.stale_after / 6)


@dataclass
class Share:
    """What one worker did, and where the study stands when it stopped."""

    ran: list[int] = field(default_factory=list)
    revived: list[int] = field(default_factory=list)
    finished: int = 0
    budget: int = 0
    best: FrozenTrial | None = None

    def summary(self) -> dict[str, Any]:
        """The share as JSON-ready data (what ``tune --format json`` prints)."""
        best = self.best
        return {"ran": len(self.ran), "trials": self.ran, "revived": self.revived,
                "study_finished": self.finished, "budget": self.budget,
                "best": None if best is None else {"number": best.number, "cv_mean": best.value,
                                                    "params": best.params}}


class TrialSeededSampler(BaseSampler):
    """Samples each trial with a fresh sampler seeded by the study's seed and the trial number."""

    def __init__(self, strategy: str, seed: int) -> None:
        self._strategy, self._seed = strategy, seed
        self._sampler: BaseSampler = self._make(0)

    def _make(self, number: int) -> BaseSampler:
        seed = int(np.random.SeedSequence([self._seed, number]).generate_state(1)[0])
        if self._strategy == "bayesian":  # constant liar: running trials steer others away
            return TPESampler(seed=seed, constant_liar=True)
        return RandomSampler(seed=seed)  # grid and list tickets fix every parameter anyway

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._sampler = self._make(trial.number)
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self._sampler.after_trial(study, trial, state, values)


@contextmanager
def heartbeat(shared: SharedStudy, number: int, every: float) -> Iterator[None]:
    """Raise trial ``number``'s ``heartbeat`` counter every ``every`` seconds meanwhile."""
    stop = threading.Event()
    trial_id = shared.trial_id(number)

    def beat() -> None:
        count = 0
        while not stop.wait(every):
            count += 1
            try:
                shared.storage.set_trial_user_attr(trial_id, "heartbeat", count)
            except Exception as exc:  # pylint: disable=broad-exception-caught  # a missed beat only
                logger.debug("Heartbeat of trial %d not recorded: %s", number, exc)

    thread = threading.Thread(target=beat, name=f"heartbeat-{number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class StaleWatch:
    """Running trials whose heartbeat has not moved for ``stale_after`` seconds, as seen here."""

    def __init__(self, stale_after: float) -> None:
        self.stale_after = stale_after
        self._seen: dict[int, tuple[Any, float]] = {}

    def stale(self, running: list[FrozenTrial]) -> list[int]:
        """Numbers of the running trials that stopped beating."""
        now, stale = time.monotonic(), []
        for trial in running:
            beat = trial.user_attrs.get("heartbeat")
            last = self._seen.get(trial.number)
            if last is None or last[0] != beat:
                self._seen[trial.number] = (beat, now)
            elif now - last[1] >= self.stale_after:
                stale.append(trial.number)
        return stale


def run_trial(shared: SharedStudy, trial: optuna.Trial, suggest: Suggest, score: Scorer,
              settings: WorkerSettings) -> float:
    """Score one taken ticket and record it; on any failure give the ticket back and re-raise."""
    try:
        with heartbeat(shared, trial.number, settings.beat_every):
            params = suggest(trial)
            mean, std = score(params)
        if not math.isfinite(mean):
            raise StudyError(f"trial {trial.number} scored {mean} with {params}")
    except BaseException as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"error: {exc}"
        with deferred_signals():
            shared.give_back(trial.number, reason[:200])
        raise
    with deferred_signals():  # a Ctrl-C now would lose a finished score
        trial.set_user_attr("cv_std", std)
        shared.study.tell(trial, mean)
    logger.info("Trial %d: CV ROC AUC %.4f with %s", trial.number, mean, params)
    return mean


def run_worker(shared: SharedStudy, suggest: Suggest, score: Scorer,
               settings: WorkerSettings = WorkerSettings()) -> Share:
    """Take and run tickets until the study holds its budget; return this worker's share."""
    shared.study.sampler = TrialSeededSampler(shared.plan.strategy, shared.plan.seed)
    share, watch = Share(budget=shared.plan.budget), StaleWatch(settings.stale_after)
    while True:
        trial = shared.take_ticket()
        if trial is not None:
            run_trial(shared, trial, suggest, score, settings)
            share.ran.append(trial.number)
            continue
        running = shared.trials(TrialState.RUNNING)
        if not running:  # the budget is done, unless a killed worker lost a ticket
            with shared.exclusive(), deferred_signals():
                if not shared.top_up():
                    break
            continue
        for number in watch.stale(running):
            if shared.give_back(number, f"no heartbeat for {settings.stale_after:g} s"):
                share.revived.append(number)
        time.sleep(settings.poll_every)
    done = shared.trials(TrialState.COMPLETE, TrialState.PRUNED)
    share.finished = len(done)
    share.best = best_trial(done)
    return share


def best_trial(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The completed trial with the highest score, the lowest number among equals."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return max(sorted(complete, key=lambda t: t.number), key=lambda t: t.value, default=None)
