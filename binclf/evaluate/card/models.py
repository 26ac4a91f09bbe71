"""The model card as pydantic models: what a card must hold, checked once, with a JSON Schema.

Sections the pipeline fills with free-form evidence (fairness, slices, gates, decision) stay
free-form JSON; the others name the keys a card must have and allow more.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

CARD_FORMAT = 1
HEADLINE_METRICS = ("roc_auc", "pr_auc", "log_loss")

Number = Annotated[float, Strict()]  # an int or a float, never a bool or a string
Count = Annotated[int, Strict()]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class CardError(ValueError):
    """A model card section that is missing or malformed; the message names it."""


class _Open(BaseModel):
    """A section with required keys that may hold more."""

    model_config = ConfigDict(extra="allow")


class Estimate(BaseModel):
    """A point estimate with its interval; null where it could not be computed."""

    model_config = ConfigDict(extra="allow")

    value: Number | None
    ci_low: Number | None
    ci_high: Number | None


class Dataset(_Open):
    name: str
    data_version: str


class Split(_Open):
    rows: Count
    prevalence: Number | None
    start: str | None = None
    end: str | None = None


class Model(_Open):
    family: str
    parameters: dict[str, Any]


class Search(_Open):
    trials: Count
    pruned: Count
    best_value: Number | None


class Resampling(_Open):
    method: str


class Calibration(_Open):
    method: str
    before: dict[str, Any]
    after: dict[str, Any]


class Threshold(_Open):
    """The threshold; a plain expected cost with `expected_cost_ci` becomes an Estimate."""

    policy: dict[str, Any] | str
    value: Number
    expected_cost: Estimate

    @model_validator(mode="before")
    @classmethod
    def _cost_with_interval(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        cost = data.get("expected_cost")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            data = dict(data)
            interval = data.pop("expected_cost_ci", None)
            if not isinstance(interval, list | tuple) or len(interval) != 2:
                raise ValueError(
                    "threshold.expected_cost needs an interval: an Estimate dict or "
                    "a number with expected_cost_ci [low, high]"
                )
            data["expected_cost"] = {"value": cost, "ci_low": interval[0], "ci_high": interval[1]}
        return data


class TestMetrics(BaseModel):
    """ROC-AUC, PR-AUC and log loss at least; any other metric is an Estimate too."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Estimate] = Field(init=False)

    roc_auc: Estimate
    pr_auc: Estimate
    log_loss: Estimate
    confusion: dict[str, Any] | None = None


class FeatureImportance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str
    importance: Number


class ModelCard(BaseModel):
    """A model card; `build_card` returns it as a JSON-safe dict."""

    model_config = ConfigDict(extra="forbid", title="Model card")

    card_format: Literal[1] = CARD_FORMAT
    version: str | None = None
    created_at: str | None = None
    dataset: Dataset
    splits: Annotated[dict[str, Split], Field(min_length=1)]
    model: Model
    search: Search
    resampling: Resampling
    calibration: Calibration
    threshold: Threshold
    test_metrics: TestMetrics
    top_features: list[FeatureImportance]
    artifacts: dict[str, Sha256]
    fairness: Any = None
    slices: Any = None
    gates: Any = None
    decision: Any = None

    @field_validator("top_features", mode="before")
    @classmethod
    def _features_from_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [{"feature": name, "importance": score} for name, score in value.items()]
        return value

    @field_validator("top_features")
    @classmethod
    def _by_absolute_importance(cls, value: list[FeatureImportance]) -> list[FeatureImportance]:
        return sorted(value, key=lambda item: -abs(item.importance))


REQUIRED_SECTIONS = tuple(
    name for name, info in ModelCard.model_fields.items() if info.is_required()
)
OPTIONAL_SECTIONS = tuple(
    name
    for name, info in ModelCard.model_fields.items()
    if not info.is_required() and name != "card_format"
)


def validated_card(sections: dict[str, Any]) -> ModelCard:
    """The card of these sections (already JSON-safe), or CardError naming what is wrong."""
    try:
        return ModelCard.model_validate(sections)
    except ValidationError as error:
        raise CardError("; ".join(_describe(e) for e in error.errors())) from None


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    message = re.sub(r"^Value error, ", "", error["msg"])
    return f"{where}: {message}" if where else message


def card_json_schema() -> dict[str, Any]:
    """The JSON Schema of card.json."""
    schema = ModelCard.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
