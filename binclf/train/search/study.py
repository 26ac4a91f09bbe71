"""The study of a search: its name, opening or resuming it, its trials' log and their outcome.

One study holds the trials of every family, so the family that scores best on the validation
split wins. Its name says what decides the search — dataset, a data hash, the search definition
and the settings — so a killed run resumes (keeping its finished trials and running only what is
left of the budget) while changed data, space, objective or settings start a new study.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import polars as pl

from binclf.io.atomic import json_bytes
from binclf.spec import DatasetSpec
from binclf.train.inputs import data_version
from binclf.train.search.budget import shared_storage
from binclf.train.search.families import FamilySampler
from binclf.train.search.fidelity import FIDELITY_FACTOR, ROWS_ATTR
from binclf.train.search.objectives import ERROR_ATTR
from binclf.train.search.owners import is_orphan
from binclf.train.search.settings import OBJECTIVES, SearchError, SearchSettings
from binclf.train.search.space import (
    N_STARTUP_TRIALS,
    definition_hash,
    starting_points,
)
from binclf.train.search.warm import warm_start_points

logger = logging.getLogger(__name__)

OBJECTIVE_ATTR = "objective"


def study_name(spec: DatasetSpec, splits: pl.DataFrame, settings: dict[str, Any]) -> str:
    """Dataset, data hash, and a hash of the search definition with the settings.

    A rerun on the same rows, definition and settings resumes the study; a change of any of
    them starts a new one with the full budget.
    """
    code = hashlib.sha256(
        json_bytes({"definition": definition_hash(), **settings}, indent=None)
    ).hexdigest()[:8]
    return f"{spec.name}-data{data_version(splits)}-code{code}"


def is_single_worker(url: str) -> bool:
    """SQLite storages serve one worker at a time; other RDB storages may be shared."""
    return url.startswith("sqlite")


def fail_orphans(study: Any) -> None:
    """Mark RUNNING trials whose run is gone as failed, so they neither count nor block.

    Only for single-worker storage (shared storages use heartbeats); trials of a run that is
    still alive are left running (`binclf.train.search.owners`).
    """
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if is_orphan(trial):
            study.tell(trial.number, state=TrialState.FAIL)
            logger.warning("trial %d was left running by a stopped run; failed", trial.number)


def open_study(
    storage: str,
    name: str,
    settings: SearchSettings,
    warm_start_from: str | None,
    training_rows: int,
) -> Any:
    """Create the study, or load it when it exists (another run or worker made it).

    Only the worker that creates the study enqueues the starting points, so workers that start
    together do not run them twice: first the best configurations of the study
    `warm_start_from` (the champion's, `binclf.train.search.warm`), then the starting points
    for `training_rows` (`binclf.train.search.space.starting_points`).
    """
    import optuna

    options = {
        "storage": storage if is_single_worker(storage) else shared_storage(storage),
        "study_name": name,
        "sampler": FamilySampler(
            optuna.samplers.TPESampler(
                seed=settings.seed, n_startup_trials=N_STARTUP_TRIALS, multivariate=True
            ),
            settings.families,
        ),
        # Rungs are reported at steps 1, 3, 9, ... (`fidelity.rung_step`).
        "pruner": optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=FIDELITY_FACTOR
        ),
    }
    try:
        study = optuna.create_study(direction=OBJECTIVES[settings.objective], **options)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**options)
        created = False
    stored = study.user_attrs.get(OBJECTIVE_ATTR)
    if stored is None:
        study.set_user_attr(OBJECTIVE_ATTR, settings.objective)
    elif stored != settings.objective:
        raise SearchError(
            f"study {name!r} was run with objective {stored!r}, not {settings.objective!r}; "
            "use another study name"
        )
    if is_single_worker(storage):
        fail_orphans(study)
    if created:
        enqueue_starts(study, settings, warm_start_from, options["storage"], training_rows)
    return study


def enqueue_starts(
    study: Any,
    settings: SearchSettings,
    warm_start_from: str | None,
    storage: Any,
    training_rows: int,
) -> None:
    """Enqueue the warm-start points, then the starting points, each distinct point once."""
    points = (
        []
        if warm_start_from is None
        else warm_start_points(storage, warm_start_from, settings.families)
    )
    for family, family_points in starting_points(training_rows).items():
        if family in settings.families:
            points.extend({"family": family, **point} for point in family_points)
    queued: list[dict[str, Any]] = []
    for point in points:
        start = {k: v for k, v in point.items() if k != "resampling"}
        if settings.resampling == "auto":
            start["resampling"] = point.get("resampling", "none")
        if start not in queued:
            queued.append(start)
            study.enqueue_trial(start)


def log_trial(study: Any, trial: Any) -> None:
    duration = trial.duration.total_seconds() if trial.duration else float("nan")
    try:
        best = f"{study.best_value:.5f}"
    except ValueError:
        best = "none yet"
    choice = " ".join(str(trial.params[k]) for k in ("family", "resampling") if k in trial.params)
    logger.info(
        "trial %d %s: %s value=%s best=%s (%.1f s)",
        trial.number,
        trial.state.name,
        choice,
        "-" if trial.value is None else f"{trial.value:.5f}",
        best,
        duration,
    )


def history(trials: list[Any]) -> list[dict[str, Any]]:
    """One record per trial that started (queued starting points that never ran are left out)."""
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "family": t.params.get("family"),
            "params": dict(t.params),
            "best_iteration": t.user_attrs.get("best_iteration"),
            "rows": t.user_attrs.get(ROWS_ATTR),
            "duration_seconds": t.duration.total_seconds() if t.duration else None,
            "error": t.user_attrs.get(ERROR_ATTR),
        }
        for t in trials
        if t.state.name != "WAITING"
    ]


def seconds_per_trial(trials: list[Any]) -> dict[str, float]:
    """Mean duration of the finished (complete or pruned) trials of each family."""
    durations: dict[str, list[float]] = {}
    for t in trials:
        if t.state.name in ("COMPLETE", "PRUNED") and t.duration and "family" in t.params:
            durations.setdefault(t.params["family"], []).append(t.duration.total_seconds())
    return {family: sum(d) / len(d) for family, d in sorted(durations.items())}


def best_trial(study: Any, name: str, families: tuple[str, ...]) -> Any:
    """The best completed trial, once every family that failed a trial has finished one.

    A family whose trials all failed (with a trial error) is a failure of the search, named by
    its first error: otherwise a broken family would quietly lose to the others.
    """
    trials = study.get_trials(deepcopy=False)
    for family in families:
        own = [t for t in trials if t.params.get("family") == family]
        errors = [t.user_attrs[ERROR_ATTR] for t in own if ERROR_ATTR in t.user_attrs]
        if errors and not any(t.state.name in ("COMPLETE", "PRUNED") for t in own):
            raise SearchError(
                f"study {name!r}: no {family} trial completed ({len(errors)} failed); "
                f"first error: {errors[0]}"
            )
    if not any(t.state.name == "COMPLETE" for t in trials):
        errors = [t.user_attrs[ERROR_ATTR] for t in trials if ERROR_ATTR in t.user_attrs]
        reason = errors[0] if errors else "none ran"
        raise SearchError(f"study {name!r} has no completed trial; first error: {reason}")
    return study.best_trial
