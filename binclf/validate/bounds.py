"""Rate limits that know their sample size.

A limit on the share of nulls or of unseen categories is a rate, and a day of 15 rows says little
about a rate: one new value there is 7 %. With the binomial test (the default), a partition fails
only when its count is improbable (below `validation.rate_alpha`) for a column whose true rate is
the limit; with `validation.rate_test: share` the limit is a hard share, as set.
"""

from __future__ import annotations

from dataclasses import dataclass

from binclf.spec import DatasetSpec


@dataclass(frozen=True)
class RateLimit:
    """The limit of one rate rule and how it is judged."""

    parameter: str
    limit: float
    binomial: bool
    alpha: float

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
    return RateLimit(f"mostly_null_{column}", limit, uses_binomial(spec), rules.rate_alpha)


def unseen_limit(spec: DatasetSpec, column: str) -> RateLimit:
    rules = spec.validation
    return RateLimit(
        f"mostly_unseen_{column}",
        rules.max_unseen_category_share,
        uses_binomial(spec),
        rules.rate_alpha,
    )
