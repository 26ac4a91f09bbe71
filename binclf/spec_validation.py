"""The `validation:` section of the dataset spec: the rules' limits and which rules block.

A module of its own so the spec stays readable; `binclf.spec` exposes both names, and a spec
error in this section names its key like any other (`validation.numeric_ranges.amount: ...`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RuleName = Literal[
    "min_rows",
    "schema",
    "target_domain",
    "ids",
    "event_time",
    "label_time",
    "numeric_range",
    "null_share",
    "null_share_far",
    "unseen_share",
    "unseen_share_far",
    "unparsed_times",
]


class ValidationRules(BaseModel):
    """The `validation:` section of a dataset spec (README: Dataset spec, How it decides)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rows: int = Field(0, ge=0)  # 0: a day without rows is validated as empty
    max_null_share: float = Field(0.5, ge=0, le=1)
    null_share_overrides: dict[str, float] = Field(default_factory=dict)
    max_unseen_category_share: float = Field(0.01, ge=0, le=1)
    allowed_categories: dict[str, list[str]] = Field(default_factory=dict)
    open_categories: list[str] = Field(default_factory=list)  # free text: no closed-set rule
    numeric_ranges: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)
    reference_days: int = Field(14, ge=1)
    rate_test: Literal["binomial", "share"] | None = None  # None: binomial unless a share is set
    rate_alpha: float = Field(0.001, gt=0, lt=0.5)
    max_unparsed_time_share: float = Field(0.001, ge=0, le=1)  # per source file
    metadata_previews: bool = False  # never shows id_column or sensitive columns
    warn_only: list[RuleName] = Field(default_factory=list)  # blocking rules that only warn
    blocking: list[RuleName] = Field(default_factory=list)  # warning rules that block

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> ValidationRules:
        both = sorted(set(self.warn_only) & set(self.blocking))
        if both:
            raise ValueError(f"warn_only and blocking both name {both}; keep each in one")
        for column, (low, high) in self.numeric_ranges.items():
            if low is not None and high is not None and low > high:
                raise ValueError(
                    f"numeric_ranges.{column}: [{low}, {high}] is reversed; write [{high}, {low}]"
                )
        return self
