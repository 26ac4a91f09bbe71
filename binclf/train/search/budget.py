"""A trial budget that holds when several workers run trials of one optuna study at once.

optuna's `MaxTrialsCallback` stops a worker after one of its trials finishes and the study has
enough finished trials; trials that other workers started meanwhile still run to the end, so
N workers overshoot the budget by up to N - 1 trials. Here each trial checks the budget when it
starts instead: it runs only if fewer than `n_trials` trials numbered before it are finished
(complete or pruned), running or waiting. RDB storages number trials under a lock on the study
row, so every worker sees the same order and at most `n_trials` trials ever run, however many
workers share the study. A trial beyond the budget fits nothing: it stops its worker and ends
FAILED with the reason, so it never counts as a finished trial.

A worker killed in the middle of a trial leaves it RUNNING, and it keeps its place in the count;
`shared_storage` adds optuna's heartbeat, which marks such trials FAILED so that they free it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BEYOND_BUDGET_ATTR = "beyond_budget"
SCHEMA_ATTEMPTS = 3


class TrialBudgetExhausted(RuntimeError):
    """Raised at the start of a trial that the study's budget has no room for."""


def _holding_states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


def finished_trials(study: Any) -> int:
    """Trials that count toward the budget: complete or pruned."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def trials_ahead(study: Any, number: int) -> int:
    """Trials numbered before `number` that hold a place in the budget (not failed)."""
    holding = study.get_trials(deepcopy=False, states=_holding_states())
    return sum(t.number < number for t in holding)


def within_budget(objective: Callable[[Any], Any], *, n_trials: int) -> Callable[[Any], Any]:
    """`objective`, run only when the trial is among the study's first `n_trials` live trials.

    A trial beyond the budget is marked with the user attribute `beyond_budget`, stops the
    worker's `study.optimize` after it, and raises `TrialBudgetExhausted`: give that to
    `optimize(catch=...)` (or catch `Exception`) so the worker ends quietly.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")

    def budgeted(trial: Any) -> Any:
        ahead = trials_ahead(trial.study, trial.number)
        if ahead >= n_trials:
            trial.set_user_attr(BEYOND_BUDGET_ATTR, True)
            trial.study.stop()
            raise TrialBudgetExhausted(
                f"trial {trial.number}: {ahead} trials before it already fill the budget of "
                f"{n_trials}"
            )
        return objective(trial)

    return budgeted


def optimize_within_budget(
    study: Any,
    objective: Callable[[Any], Any],
    *,
    n_trials: int,
    timeout: float | None = None,
    callbacks: Iterable[Callable[[Any, Any], None]] = (),
    catch: Sequence[type[Exception]] = (),
) -> int:
    """Run trials of `study` in this worker until it holds `n_trials` finished trials.

    Several workers may call this on the same study at once (on a storage that several
    processes can share, e.g. PostgreSQL); together they finish exactly `n_trials` trials when
    none fails. Returns the number of trials this worker ran within the budget.
    """
    import optuna
    from optuna.trial import TrialState

    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    remaining = n_trials - finished_trials(study)
    if remaining <= 0:
        return 0
    ran: list[int] = []

    def count(_: Any, trial: Any) -> None:
        if not trial.user_attrs.get(BEYOND_BUDGET_ATTR):
            ran.append(trial.number)

    stop_when_full = optuna.study.MaxTrialsCallback(
        n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED)
    )
    study.optimize(
        within_budget(objective, n_trials=n_trials),
        n_trials=remaining,
        timeout=timeout,
        callbacks=[*callbacks, count, stop_when_full],
        catch=(*catch, TrialBudgetExhausted),
    )
    return len(ran)


def shared_storage(url: str, *, heartbeat_seconds: int = 60, grace_seconds: int = 180) -> Any:
    """An optuna RDB storage for studies shared by workers, with a heartbeat.

    Each running trial records a heartbeat every `heartbeat_seconds`; when a worker starts a
    trial, trials whose heartbeat is older than `grace_seconds` (their worker died) are marked
    FAILED, which frees their place in the budget. `url` is an SQLAlchemy URL, e.g.
    ``postgresql+psycopg2://user:password@host:5432/optuna``.
    """
    import optuna

    if grace_seconds <= heartbeat_seconds:
        raise ValueError(
            f"grace_seconds ({grace_seconds}) must exceed heartbeat_seconds ({heartbeat_seconds})"
        )
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    def open_storage() -> Any:
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=heartbeat_seconds,
            grace_period=grace_seconds,
            engine_kwargs={"pool_pre_ping": True},
        )

    for attempt in range(1, SCHEMA_ATTEMPTS):
        try:
            return open_storage()
        except (IntegrityError, ProgrammingError):
            # Workers starting together on an empty database race to create optuna's tables;
            # the loser finds them made on a later attempt.
            time.sleep(0.2 * attempt)
    return open_storage()
