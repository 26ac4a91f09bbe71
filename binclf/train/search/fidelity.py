"""Multi-fidelity over training rows: the rungs a LightGBM trial climbs, and where it stops.

A LightGBM trial first fits (to early stopping on the validation split) on a small stratified
sample of its training rows, then on samples `FIDELITY_FACTOR` times larger, up to every trial
row. Each sample is a prefix of one seeded per-class order, so each rung's rows contain the
rows of the rungs below. After each rung but the last the trial reports its validation score
(on a validation sample as large as the rung, `valid_rows_for`; the last on every row),
and optuna's successive-halving pruner lets it go on only when it is among the best
1/`FIDELITY_FACTOR` of the trials that reached that rung: most configurations cost one fit on a
few thousand rows, and only promising ones pay for the large fits.

Rungs below the top only decide which trials climb, so they are made cheap: a learning rate
`LOW_RUNG_RATE_FACTOR` times the search's (about as many times fewer rounds), early stopping
after `LOW_RUNG_EARLY_STOPPING_ROUNDS` rounds without gain, one thread (on a few thousand rows
threads wait on each other more than they work), and a validation sample (`valid_rows_for`).
The top rung fits at the search's learning rate, patience and threads, scored on every
validation row, so the scores that compete with other families and the round count of the refit
come from it.

With a budget in seconds, the top rung adapts to the data: the first LightGBM trial's fit on the
smallest rung is timed, and trials climb only as far as a top-rung fit is expected to take at
most `TOP_RUNG_BUDGET_SHARE` of the budget (fit time taken as proportional to rows and to the
learning rate's factor), but at least to the second rung: the smallest rung is for pruning only,
so most configurations cost one cheap fit even when the machine is slow. The choice is
stored on the study, so every trial of a study stops at the same rung and their scores compare.
When the top rung is below every trial row, the winner is fit once more on every trial row to
early stopping, and that round count is the refit's. That fit is part of the budget: trials stop
`FINAL_FIT_SHARE` of the budget before its end, and the fit stops boosting at the end, keeping
its best round so far. When the trial rows are a sample of the training rows, the winner is fit
to early stopping on every training row instead (`binclf.train.search.refit.full_size_fit`, not
cut at the end); the trials keep the same share of the budget for it. A budget in trials never
looks at a clock: trials climb to every trial row, and reruns are byte-identical.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

FIDELITY_FACTOR = 3
TOP_RUNG_BUDGET_SHARE = 0.125
LOW_RUNG_RATE_FACTOR = 4.0
LOW_RUNG_EARLY_STOPPING_ROUNDS = 20
LOW_RUNG_THREADS = 1
FINAL_FIT_SHARE = 0.25
MIN_VALID_ROWS = 10_000
TOP_RUNG_ATTR = "top_rung"
RESERVE_ATTR = "final_fit_reserve_seconds"
ROWS_ATTR = "rows"


def ladder(n_rows: int, min_rows: int) -> tuple[int, ...]:
    """Rung sizes, smallest first: `n_rows` divided by powers of the factor, none below
    `min_rows` (just `n_rows` when it is that small already)."""
    rungs = [n_rows]
    while math.ceil(rungs[-1] / FIDELITY_FACTOR) >= min_rows:
        rungs.append(math.ceil(rungs[-1] / FIDELITY_FACTOR))
    return tuple(reversed(rungs))


def valid_rows_for(rung_rows: int, n_valid: int) -> int:
    """Validation rows a rung below the top is judged on: as many as its training rows, at
    least `MIN_VALID_ROWS`, at most all (scoring every round on a large validation split would
    cost more than training on a small rung)."""
    return min(n_valid, max(MIN_VALID_ROWS, rung_rows))


def rung_step(rung: int) -> int:
    """The step a rung reports at: the pruner's rungs sit at powers of the factor."""
    return FIDELITY_FACTOR**rung


def nested_rows(y: np.ndarray, sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """For each size, sorted row indices of a stratified sample; each contains the smaller ones.

    Every class is shuffled once with `seed`; a sample takes the same leading share of each
    class (at least one row of each), so the class balance of every rung is the full one.
    """
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(np.flatnonzero(y == label)) for label in np.unique(y)]
    samples = []
    for size in sizes:
        if size >= len(y):
            samples.append(np.arange(len(y)))
            continue
        share = size / len(y)
        taken = [order[: max(1, round(len(order) * share))] for order in orders]
        samples.append(np.sort(np.concatenate(taken)))
    return samples


def low_rung_params(params: dict[str, Any]) -> dict[str, Any]:
    """`params` (a top-rung fit's) as a fit below the top runs them: faster rate, one thread."""
    rate = min(1.0, float(params["learning_rate"]) * LOW_RUNG_RATE_FACTOR)
    return {**params, "learning_rate": rate, "num_threads": LOW_RUNG_THREADS}


def top_rung(seconds_on_first: float, n_rungs: int, timeout_seconds: float) -> int:
    """The highest rung whose top-rung fit is expected within the budget's share; at least the
    second when there are two (the first is timed at the low rungs' learning rate)."""
    if n_rungs == 1:
        return 0
    allowed = TOP_RUNG_BUDGET_SHARE * timeout_seconds
    at_top_rate = seconds_on_first * LOW_RUNG_RATE_FACTOR
    rung = 1
    while rung + 1 < n_rungs and at_top_rate * FIDELITY_FACTOR ** (rung + 1) <= allowed:
        rung += 1
    return rung


def chosen_top_rung(study: Any, n_rungs: int, timeout_seconds: float | None) -> int | None:
    """The study's top rung when one is chosen; the last rung for a budget in trials or a
    ladder of one rung."""
    if timeout_seconds is None or n_rungs == 1:
        return n_rungs - 1
    stored = study.user_attrs.get(TOP_RUNG_ATTR)
    return None if stored is None else min(int(stored), n_rungs - 1)


def trials_deadline(study: Any, deadline: float | None) -> float | None:
    """When trials must stop: the search's deadline less the final fit's reserve, if any."""
    if deadline is None:
        return None
    return deadline - float(study.user_attrs.get(RESERVE_ATTR, 0.0))


def choose_top_rung(
    study: Any,
    seconds_on_first: float,
    n_rungs: int,
    timeout: float,
    final_fit_follows: bool = False,
) -> int:
    """Store the study's top rung, and the reserve for the final fit when one follows: the top
    rung is below every trial row, or (`final_fit_follows`) the trial rows are a sample."""
    top = top_rung(seconds_on_first, n_rungs, timeout)
    study.set_user_attr(TOP_RUNG_ATTR, top)
    follows = final_fit_follows or top < n_rungs - 1
    study.set_user_attr(RESERVE_ATTR, FINAL_FIT_SHARE * timeout if follows else 0.0)
    return top


def deadline_callback(
    deadline: float | None, study: Any, pruned: Callable[[], Exception]
) -> Callable[[Any], None]:
    """A LightGBM callback that ends a trial's fit still running at `deadline` (the trials'
    deadline, `trials_deadline`).

    The trial is then pruned (`pruned()` makes the exception), but only once the study has a
    completed trial, so a search always ends with a winner.
    """

    def check(_: Any) -> None:
        if deadline is None or time.monotonic() < deadline:
            return
        from optuna.trial import TrialState

        if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            raise pruned()

    return check


def stop_boosting_at(deadline: float | None) -> Callable[[Any], None]:
    """A LightGBM callback that ends boosting at `deadline`, keeping the best round so far.

    Put it after `lightgbm.early_stopping`; it tracks the first validation metric's best.
    """
    from lightgbm.callback import EarlyStopException

    best: dict[str, Any] = {}

    def check(env: Any) -> None:
        _, _, value, higher_better = env.evaluation_result_list[0][:4]
        if not best or (value > best["value"] if higher_better else value < best["value"]):
            best.update(value=value, iteration=env.iteration, results=env.evaluation_result_list)
        if deadline is not None and time.monotonic() >= deadline:
            raise EarlyStopException(best["iteration"], best["results"])

    return check
