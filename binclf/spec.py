"""The dataset spec: one YAML file that describes a user's dataset to the pipeline.

`BINCLF_DATASET` points to it; without it the built-in demo spec is used. Every key is
validated on load and an error names the key that is wrong.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from binclf.spec_paths import DayFiles
from binclf.spec_validation import RuleName as RuleName  # re-exported: part of the spec's API
from binclf.spec_validation import ValidationRules

DATASET_ENV = "BINCLF_DATASET"
DEMO_SPEC_PATH = Path(__file__).parent / "ingest" / "demo_spec.yaml"


class SpecError(ValueError):
    """A dataset spec that cannot be used; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Minimum test rows and positives when the spec gives none: with point gates the volume gate
# stands in for the uncertainty; with interval gates the bounds carry it and the minimum is a
# floor small data can meet.
POINT_GATE_VOLUME = (500, 30)
INTERVAL_GATE_VOLUME = (100, 10)


class GateThresholds(_Strict):
    """Thresholds of the promotion gates; the defaults suit a rare-positive problem.

    `use_interval` makes the metric gates judge the pessimistic end of each 95 % interval (the
    lower bound of a minimum, the upper bound of a maximum) instead of the point value.
    `when_nothing_judged` says what a fairness or slice gate does when no group was large
    enough to judge: "warn" passes with the groups listed as not judged, "fail" fails.
    """

    use_interval: bool = False
    min_test_rows: int | None = Field(None, ge=1)
    min_test_positives: int | None = Field(None, ge=1)
    min_roc_auc: float = Field(0.70, ge=0, le=1)
    min_pr_auc: float = Field(0.10, ge=0, le=1)
    max_ece: float = Field(0.05, ge=0, le=1)
    max_fairness_disparity: float = Field(0.20, ge=0, le=1)
    min_slice_recall: float = Field(0.30, ge=0, le=1)
    min_slice_positives: int = Field(20, ge=1)
    slice_recall_kinds: tuple[str, ...] = ("slice", "sensitive")
    max_single_feature_auc: float = Field(0.95, ge=0.5, le=1)
    when_nothing_judged: Literal["fail", "warn"] = "warn"

    @property
    def test_rows_minimum(self) -> int:
        """`min_test_rows`, else 500 with point gates and 100 with interval gates."""
        default = INTERVAL_GATE_VOLUME if self.use_interval else POINT_GATE_VOLUME
        return self.min_test_rows if self.min_test_rows is not None else default[0]

    @property
    def test_positives_minimum(self) -> int:
        """`min_test_positives`, else 30 with point gates and 10 with interval gates."""
        default = INTERVAL_GATE_VOLUME if self.use_interval else POINT_GATE_VOLUME
        return self.min_test_positives if self.min_test_positives is not None else default[1]


class SyntheticSource(_Strict):
    """The built-in generator of card-transaction-like events."""

    kind: Literal["synthetic"] = "synthetic"
    start_date: date = date(2026, 1, 1)
    days: int = Field(120, ge=1, le=3650)
    rows_per_day: int = Field(2_000, ge=1)
    positive_rate: float = Field(0.02, gt=0, lt=0.5)
    change_point_day: int | None = Field(96, ge=0)
    change_strength: float = Field(1.0, gt=0, le=5)  # scales the feature shift at the change
    seed: int = 7


class FileSource(_Strict):
    """A Parquet or CSV file, a glob, a folder of such files, or a file per day.

    A path with a `{date}` placeholder (`events/{date}.csv`, `events/{date:%Y%m%d}.csv`) names
    one file per UTC day (`binclf.spec_paths`): a day reads its own file only.
    """

    kind: Literal["parquet", "csv"]
    path: str

    @field_validator("path")
    @classmethod
    def _placeholder_names_a_day(cls, path: str) -> str:
        DayFiles.parse(path)
        return path

    def _absolute(self, base: Path) -> Path:
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else base / path

    def day_files(self, base: Path) -> DayFiles | None:
        """The template of a day-named source, with its folder resolved; None otherwise."""
        return DayFiles.parse(str(self._absolute(base)))

    def day_paths(self, base: Path) -> dict[date, Path]:
        """The files of a day-named source that exist, by day (none for other sources)."""
        template = self.day_files(base)
        return template.existing() if template else {}

    def resolved_paths(self, base: Path) -> list[Path]:
        """The files this source names, relative paths taken from the spec's folder."""
        if self.day_files(base) is not None:
            files = list(self.day_paths(base).values())
            if not files:
                raise SpecError(f"source.path: no {self.kind} file found at {self.path}")
            return files
        path = self._absolute(base)
        suffix = f".{self.kind}"
        if path.is_dir():
            files = sorted(p for p in path.rglob(f"*{suffix}") if p.is_file())
        elif any(ch in str(path) for ch in "*?["):
            files = sorted(p for p in path.parent.glob(path.name) if p.is_file())
        else:
            files = [path] if path.exists() else []
        if not files:
            raise SpecError(f"source.path: no {self.kind} file found at {path}")
        return files


class FeatureSelection(_Strict):
    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)


class Costs(_Strict):
    """The cost of each kind of error; the default threshold minimizes their expected sum.

    Without `costs` in the spec both are 1, so the threshold minimizes the error rate: a ratio
    such as fraud's (a missed positive costing many false alarms) is a business fact to state,
    not a default to assume.
    """

    false_positive: float = Field(1.0, gt=0)
    false_negative: float = Field(1.0, gt=0)


class Partitioning(_Strict):
    """Daily partitions by event time; a dataset without time is one snapshot partition.

    `start_date` is the first partition (required for a file source with a time column; a
    synthetic source starts at its own `start_date`). Without `end_date` the partitions grow:
    every finished UTC day is one. Set `end_date` (exclusive) only to replay a closed period.
    """

    start_date: date | None = None
    end_date: date | None = None
    snapshot_date: date = date(2024, 1, 1)

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Partitioning:
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            raise ValueError(
                f"end_date {self.end_date} is not after start_date {self.start_date}: the range "
                "holds no day (end_date is exclusive; swap them if they are reversed)"
            )
        return self


class Monitoring(_Strict):
    """When the sensors ask for retraining."""

    drift_share_threshold: float = Field(0.3, gt=0, le=1)
    drift_consecutive_partitions: int = Field(3, ge=1)
    drift_min_rows: int = Field(500, ge=0)
    retrain_cooldown_hours: float = Field(24.0, ge=0)
    min_new_labels: int = Field(1000, ge=1)
    min_label_coverage: float = Field(0.8, gt=0, le=1)
    label_sla_hours: float = Field(24.0 * 14, gt=0)
    retrain_window_days: int | None = Field(None, ge=1)
    label_refresh_days: int = Field(30, ge=1)
    reference_days: int | None = Field(28, ge=1)


SliName = Literal[
    "recall",
    "precision",
    "false_positive_rate",
    "false_negative_rate",
    "expected_cost",
    "pr_auc",
    "ece",
    "label_coverage",
    "decision_coverage",
    "scoring_freshness",
]
HIGHER_IS_BETTER = frozenset(
    {"recall", "precision", "pr_auc", "label_coverage", "decision_coverage"}
)


class SloDefinition(_Strict):
    """One service-level objective over a daily SLI (see binclf/monitor/slo.py).

    `objective` is a bound on the SLI (a lower bound for recall, precision, PR-AUC and the
    coverages, an upper bound otherwise; for scoring_freshness the UTC hour by which yesterday's
    scores exist). `bad_day_share` is the budget of the day-counted SLIs (pr_auc,
    scoring_freshness); `min_volume` the events a window needs before it may alert.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    sli: SliName
    objective: float = Field(ge=0)
    window_days: int = Field(28, ge=3, le=366)
    bad_day_share: float = Field(0.1, gt=0, lt=1)
    min_volume: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _objective_in_range(self) -> SloDefinition:
        if self.sli == "scoring_freshness" and self.objective > 24:
            raise ValueError("objective of scoring_freshness is an hour of the day, 0 to 24")
        bounded = self.sli not in ("expected_cost", "scoring_freshness")
        if bounded and not 0 < self.objective < 1:
            raise ValueError(f"objective of {self.sli} must be strictly between 0 and 1")
        if self.sli == "expected_cost" and self.objective <= 0:
            raise ValueError("objective of expected_cost must be greater than 0")
        return self


class DatasetSpec(_Strict):
    """Everything the pipeline needs to know about one dataset."""

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    source: SyntheticSource | FileSource = Field(discriminator="kind")
    target: str
    positive: str | int | bool
    negative: list[str | int | bool] | None = None
    id_column: str | None = None
    time_column: str | None = None
    time_format: str | None = None  # strftime format of text times (else inferred)
    label_time_column: str | None = None
    split_column: str | None = None
    features: FeatureSelection = Field(default_factory=FeatureSelection)
    categorical: list[str] = Field(default_factory=list)
    sensitive: list[str] = Field(default_factory=list)
    slices: list[str] = Field(default_factory=list)
    weight_column: str | None = None
    costs: Costs = Field(default_factory=Costs)

    @property
    def costs_stated(self) -> bool:
        """Whether the spec states its error costs (otherwise both are 1)."""
        return "costs" in self.model_fields_set

    partitions: Partitioning = Field(default_factory=Partitioning)
    validation: ValidationRules = Field(default_factory=ValidationRules)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    gates: GateThresholds = Field(default_factory=GateThresholds)
    slos: list[SloDefinition] | None = None
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _columns_are_distinct(self) -> DatasetSpec:
        roles = {
            "target": self.target,
            "id_column": self.id_column,
            "time_column": self.time_column,
            "label_time_column": self.label_time_column,
            "split_column": self.split_column,
            "weight_column": self.weight_column,
        }
        seen: dict[str, str] = {}
        for role, column in roles.items():
            if column and column in seen:
                raise ValueError(f"{seen[column]} and {role} both name column {column!r}")
            if column:
                seen[column] = role
        if self.negative is not None and self.positive in self.negative:
            raise ValueError(f"positive value {self.positive!r} is also listed in negative")
        names = [slo.name for slo in self.slos or []]
        if len(names) != len(set(names)):
            raise ValueError(f"slos: names must be unique, got {names}")
        if self.label_time_column and not self.time_column:
            raise ValueError("label_time_column needs time_column")
        day_named = isinstance(self.source, FileSource) and DayFiles.parse(self.source.path)
        if day_named and not self.time_column:
            raise ValueError("source.path: a file per {date} needs time_column")
        return self

    @property
    def is_snapshot(self) -> bool:
        """True when the dataset has no event time: it is one snapshot partition."""
        return self.time_column is None

    @property
    def role_columns(self) -> list[str]:
        """Columns that are never features."""
        cols = [
            self.target,
            self.id_column,
            self.time_column,
            self.label_time_column,
            self.split_column,
            self.weight_column,
        ]
        return [c for c in cols if c]


def _spec_key(error: Any, data: dict[str, Any]) -> str:
    """The key of an error as written in the spec: union members and tags are not keys."""
    keys: list[str] = []
    node: Any = data
    location = error["loc"]
    for index, part in enumerate(location):
        in_mapping = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_list:
            node = node[part]
        elif isinstance(node, dict) and index == len(location) - 1:
            node = None  # a required key that is missing
        else:
            continue  # e.g. the `csv` in `source.csv.path` or the `str` in `positive.str`
        keys.append(str(part))
    if error["type"] == "union_tag_invalid":
        keys.append(str(error["ctx"]["discriminator"]).strip("'"))
    return ".".join(keys) or "<spec>"


def spec_from_dict(data: dict[str, Any], *, base_dir: Path = Path(".")) -> DatasetSpec:
    """Validate a spec given as a mapping; errors name the offending key."""
    try:
        return DatasetSpec.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        problems = dict.fromkeys(f"{_spec_key(err, data)}: {err['msg']}" for err in exc.errors())
        raise SpecError("invalid dataset spec: " + "; ".join(problems)) from None


def load_spec(path: str | os.PathLike[str] | None = None) -> DatasetSpec:
    """Load the spec at `path`, else at `$BINCLF_DATASET`, else the built-in demo spec."""
    chosen = Path(path or os.environ.get(DATASET_ENV) or DEMO_SPEC_PATH).expanduser()
    if not chosen.is_file():
        raise SpecError(f"dataset spec not found: {chosen}")
    try:
        data = yaml.safe_load(chosen.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"dataset spec {chosen} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"dataset spec {chosen} must be a mapping of keys")
    return spec_from_dict(data, base_dir=chosen.resolve().parent)
