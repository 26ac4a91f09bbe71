"""Rate limits that know their sample size.

A limit on the share of nulls or of unseen categories is a rate, and a day of 15 rows says little
about a rate: one new value there is 7 %. With the binomial test (the default), a partition fails
only when its count is improbable (below `validation.rate_alpha`) for a column whose true rate is
the limit; with `validation.rate_test: share` the limit is a hard share, as set.

Each rate has two rules: at its limit (a warning by default: the rate drifts) and far past it,
at `far_rate(limit)` (blocking by default: the column is broken).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from binclf.spec import DatasetSpec

# A rate this many times its limit (at most halfway from the limit to 1) is far past it.
FAR_FACTOR = 3.0


def far_rate(limit: float) -> float:
    """The rate past which a null or unseen share blocks: 3x the limit, at most (1 + limit) / 2."""
    return min(FAR_FACTOR * limit, (1.0 + limit) / 2.0)


@dataclass(frozen=True)
class RateLimit:
    """The limit of one rate rule and how it is judged."""

    parameter: str
    limit: float
    binomial: bool
    alpha: float
    column: str = ""
    counts: Literal["rows", "values"] = "rows"  # nulls are a share of rows, unseen of values

    def far(self) -> RateLimit:
        """The same rule far past its limit."""
        name = self.parameter.replace("mostly_", "mostly_far_", 1)
        return replace(self, parameter=name, limit=far_rate(self.limit))

    def mostly(self, considered: int) -> float:
        """great-expectations' `mostly` for a partition with `considered` values."""
        if not self.binomial or considered == 0:
            return 1.0 - self.limit
        from scipy.stats import binom

        allowed = max(int(binom.ppf(1.0 - self.alpha, considered, self.limit)), 0)
        allowed = max(allowed, int(self.limit * considered))
        return (float(considered) - float(min(allowed, considered))) / float(considered)


def uses_binomial(spec: DatasetSpec) -> bool:
    """The binomial test unless the spec asks for shares (or sets a share limit itself)."""
    rules = spec.validation
    if rules.rate_test is not None:
        return rules.rate_test == "binomial"
    return not {"max_null_share", "max_unseen_category_share"} & rules.model_fields_set


def null_limit(spec: DatasetSpec, column: str) -> RateLimit:
    rules = spec.validation
    limit = rules.null_share_overrides.get(column, rules.max_null_share)
    return RateLimit(
        f"mostly_null_{column}", limit, uses_binomial(spec), rules.rate_alpha, column, "rows"
    )


def unseen_limit(spec: DatasetSpec, column: str, novelty: float | None = None) -> RateLimit:
    """The unseen-value limit of a closed set, or of an open set with a learned `novelty` rate
    (never below `validation.max_unseen_category_share`)."""
    rules = spec.validation
    limit = rules.max_unseen_category_share
    return RateLimit(
        f"mostly_unseen_{column}",
        limit if novelty is None else max(limit, novelty),
        uses_binomial(spec),
        rules.rate_alpha,
        column,
        "values",
    )
