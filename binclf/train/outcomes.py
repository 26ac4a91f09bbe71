"""What the search and the calibration steps hand on: typed, and JSON-safe through to_dict.

`to_dict` keeps the model files as text and leaves plots out: a value's `plots` are PNG bytes,
stored as files next to its JSON by whoever stores it, and given back to `from_dict`'s caller to
put in place again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from binclf.io.atomic import to_json_safe
from binclf.train.calibration import CalibrationChoice, Calibrator
from binclf.train.features import FeatureSchema
from binclf.train.models import BinaryModel, model_from_files
from binclf.train.search import SearchResult


@dataclass(frozen=True)
class TrialCounts:
    complete: int
    pruned: int
    failed: int


@dataclass(frozen=True)
class SearchOutcome:
    """The searched and refit model (as its files), the features it uses and how it was found."""

    family: str
    params: dict[str, Any]
    best_value: float
    objective: str
    trials: TrialCounts
    history: list[dict[str, Any]]
    resampling: str
    prior_log_odds_shift: float
    study_name: str
    refit_rows: int
    schema: FeatureSchema
    exclusions: list[dict[str, Any]]
    model_files: dict[str, bytes]
    wall_seconds: float | None = None
    seconds_per_trial: dict[str, float] = field(default_factory=dict)
    fidelity_rows: int | None = None
    rounds_rows: int | None = None
    rounds_chosen_on: str | None = None
    ensemble_members: dict[str, float] = field(default_factory=dict)
    data_version: str = ""

    def search_summary(self) -> dict[str, Any]:
        """Time per trial, the chosen fidelity and the ensemble's members, for card and UI."""
        return {
            "seconds_per_trial": self.seconds_per_trial,
            "fidelity_rows": self.fidelity_rows,
            "rounds_rows": self.rounds_rows,
            "rounds_chosen_on": self.rounds_chosen_on,
            "ensemble_members": self.ensemble_members,
        }

    @classmethod
    def from_result(
        cls, result: SearchResult, schema: FeatureSchema, exclusions: list[dict[str, Any]]
    ) -> SearchOutcome:
        return cls(
            family=result.family,
            params=to_json_safe(result.params),
            best_value=float(result.best_value),
            objective=result.objective,
            trials=TrialCounts(result.n_complete, result.n_pruned, result.n_failed),
            history=to_json_safe(result.history),
            resampling=result.resampling,
            prior_log_odds_shift=float(result.prior_log_odds_shift),
            study_name=result.study_name,
            refit_rows=int(result.refit_rows),
            schema=schema,
            exclusions=to_json_safe(exclusions),
            model_files=dict(result.model.to_files()),
            seconds_per_trial={k: round(v, 3) for k, v in result.seconds_per_trial.items()},
            fidelity_rows=result.fidelity_rows,
            rounds_rows=result.rounds_rows,
            rounds_chosen_on=result.rounds_chosen_on,
            ensemble_members={str(k): float(v) for k, v in result.ensemble_members.items()},
        )

    def model(self) -> BinaryModel:
        return model_from_files(self.family, self.model_files)

    def to_dict(self) -> dict[str, Any]:
        return to_json_safe(
            {
                "family": self.family,
                "params": self.params,
                "best_value": self.best_value,
                "objective": self.objective,
                "trials": vars(self.trials),
                "history": self.history,
                "resampling": self.resampling,
                "prior_log_odds_shift": self.prior_log_odds_shift,
                "study_name": self.study_name,
                "refit_rows": self.refit_rows,
                "schema": self.schema.to_dict(),
                "exclusions": self.exclusions,
                "model_files": {name: data.decode() for name, data in self.model_files.items()},
                "wall_seconds": self.wall_seconds,
                "data_version": self.data_version,
                **self.search_summary(),
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchOutcome:
        return cls(
            family=data["family"],
            params=dict(data["params"]),
            best_value=data["best_value"],
            objective=data["objective"],
            trials=TrialCounts(**data["trials"]),
            history=list(data["history"]),
            resampling=data["resampling"],
            prior_log_odds_shift=data["prior_log_odds_shift"],
            study_name=data["study_name"],
            refit_rows=data["refit_rows"],
            schema=FeatureSchema.from_dict(data["schema"]),
            exclusions=list(data["exclusions"]),
            model_files={name: text.encode() for name, text in data["model_files"].items()},
            wall_seconds=data.get("wall_seconds"),
            seconds_per_trial=dict(data.get("seconds_per_trial", {})),
            fidelity_rows=data.get("fidelity_rows"),
            rounds_rows=data.get("rounds_rows"),
            rounds_chosen_on=data.get("rounds_chosen_on"),
            ensemble_members=dict(data.get("ensemble_members", {})),
            data_version=data.get("data_version", ""),
        )


@dataclass(frozen=True)
class CalibrationOutcome:
    """The chosen calibration with its evidence, and the calibration rows' reliability plot."""

    choice: CalibrationChoice
    plots: Mapping[str, bytes] = field(default_factory=dict)
    data_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return to_json_safe({**self.choice.to_dict(), "data_version": self.data_version})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationOutcome:
        choice = CalibrationChoice(
            calibrator=Calibrator.from_dict(data["calibrator"]),
            cv_log_loss=dict(data["cv_log_loss"]),
            before=dict(data["before"]),
            after=dict(data["after"]),
            n_folds=data["n_folds"],
            seed=data["seed"],
            min_gain_se=data["min_gain_se"],
        )
        return cls(choice, data_version=data.get("data_version", ""))
