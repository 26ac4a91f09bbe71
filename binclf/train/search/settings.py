"""What a search is told (settings), what it can refuse (SearchError) and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from binclf.train.models import FAMILIES, BinaryModel
from binclf.train.resampling import RESAMPLING_METHODS

OBJECTIVES = {"log_loss": "minimize", "pr_auc": "maximize"}
LIGHTGBM_METRICS = {"log_loss": "binary_logloss", "pr_auc": "average_precision"}
# CatBoost is searched only when asked for (`families`): on two cores its trials cost several
# LightGBM trials each.
DEFAULT_FAMILIES = ("lightgbm", "logistic")


class SearchError(ValueError):
    """Search settings that cannot work, or a search in which a family completed no trial."""


@dataclass(frozen=True)
class SearchSettings:
    """How the search runs; the defaults suit a 2-core machine and about a minute of search.

    The budget is `n_trials` (finished trials over all runs of the study) and/or
    `timeout_seconds` (per call). `resampling` is one of RESAMPLING_METHODS or "auto" (then it is
    searched). Trials fit on at most `search_sample_rows` training rows, LightGBM trials rung by
    rung from `fidelity_min_rows` up (`binclf.train.search.fidelity`; with a timeout the top
    rung adapts to the budget). The winner is refit on every training row, plus the validation
    rows when `refit_with_validation`, LightGBM and CatBoost with the round count early stopping
    chose at the fixed `learning_rate` (with every training row when the trials ran on a
    sample, `binclf.train.search.refit`). With `ensemble`, a greedy ensemble of the best trials
    competes with the winner on validation (`binclf.train.search.ensemble`). When training and
    validation rows together are at most `cv_max_rows`, every trial is scored by `cv_folds`-fold
    cross-validation on all of them instead (`binclf.train.search.cross_val`). A timeout makes the
    trial count depend on machine speed: for byte-identical reruns set `timeout_seconds=None`
    and let `n_trials` bound the search.
    """

    n_trials: int | None = 100
    timeout_seconds: float | None = 60.0
    objective: str = "log_loss"
    families: tuple[str, ...] = DEFAULT_FAMILIES
    resampling: str = "none"
    search_sample_rows: int | None = 100_000
    fidelity_min_rows: int = 3_000
    learning_rate: float = 0.05
    early_stopping_rounds: int = 50
    max_boost_rounds: int = 5_000
    refit_with_validation: bool = True
    ensemble: bool = True
    num_threads: int = 2
    seed: int = 0
    cv_max_rows: int = 5_000
    cv_folds: int = 5

    def __post_init__(self) -> None:
        if self.n_trials is None and self.timeout_seconds is None:
            raise SearchError("give a budget: n_trials and/or timeout_seconds")
        if self.n_trials is not None and self.n_trials < 1:
            raise SearchError(f"n_trials must be at least 1, got {self.n_trials}")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise SearchError(f"timeout_seconds must be positive, got {self.timeout_seconds}")
        if self.objective not in OBJECTIVES:
            raise SearchError(
                f"unknown objective {self.objective!r}; use one of {list(OBJECTIVES)}"
            )
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise SearchError(
                f"families must be a non-empty subset of {FAMILIES}, got {self.families}"
            )
        if self.resampling != "auto" and self.resampling not in RESAMPLING_METHODS:
            raise SearchError(
                f"unknown resampling {self.resampling!r}; use 'auto' or one of {RESAMPLING_METHODS}"
            )
        if self.search_sample_rows is not None and self.search_sample_rows < 100:
            raise SearchError(
                f"search_sample_rows must be at least 100, got {self.search_sample_rows}"
            )
        if self.fidelity_min_rows < 100:
            raise SearchError(
                f"fidelity_min_rows must be at least 100, got {self.fidelity_min_rows}"
            )
        if self.cv_folds < 2:
            raise SearchError(f"cv_folds must be at least 2, got {self.cv_folds}")
        if self.cv_max_rows < 0:
            raise SearchError(f"cv_max_rows must be 0 (never) or more, got {self.cv_max_rows}")
        if not 0 < self.learning_rate <= 1:
            raise SearchError(f"learning_rate must be in (0, 1], got {self.learning_rate}")


@dataclass
class SearchResult:
    """The winner of a search, refit, with the evidence of how it was found.

    `seconds_per_trial` is the mean duration of the finished (complete or pruned) trials of each
    family that ran; `fidelity_rows` the rows the winning trial was scored on (its top rung),
    `rounds_rows` the rows on which early stopping chose the refit's round count (more than
    `fidelity_rows` when the winner was fit again on every trial or training row),
    `rounds_chosen_on` that choice in words (None for logistic), `ensemble_members` the
    weight of each trial (by number) when an ensemble won, empty otherwise.
    """

    family: str
    params: dict[str, Any]
    best_value: float
    objective: str
    n_complete: int
    n_pruned: int
    n_failed: int
    history: list[dict[str, Any]]
    model: BinaryModel
    resampling: str
    prior_log_odds_shift: float
    study_name: str
    refit_rows: int
    seconds_per_trial: dict[str, float] = field(default_factory=dict)
    fidelity_rows: int | None = None
    rounds_rows: int | None = None
    rounds_chosen_on: str | None = None
    ensemble_members: dict[int, float] = field(default_factory=dict)
