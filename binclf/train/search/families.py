"""Which family a trial tries: a fixed share of the trials each, not TPE's choice.

With pruning, TPE ranks every completed trial above every pruned one, so a cheap family whose
trials always complete (logistic regression, scored on its only fidelity) looks better to it
than a boosted family whose trials are mostly pruned on small rungs, however much better their
scores: the search would spend its budget refitting the logistic model. Here each trial takes
the family furthest below its share of the trials started so far (ties to the first in
`settings.families`), and TPE samples only the chosen family's parameters. The rule depends on
the trial count alone, so a budget in trials stays reproducible.
"""

from __future__ import annotations

from typing import Any

FAMILY_PARAM = "family"
# Logistic trials cost a fraction of a second, and two parameters need few of them.
# CatBoost, when searched, takes a share from LightGBM's: both are boosted trees.
FAMILY_SHARES: dict[str, float] = {"lightgbm": 0.8, "logistic": 0.2, "catboost": 0.4}


def next_family(started: list[str], families: tuple[str, ...]) -> str:
    """The family furthest below its share (renormalised over `families`) after `started`."""
    total = sum(FAMILY_SHARES[f] for f in families)
    n = len(started) + 1
    return max(families, key=lambda f: (FAMILY_SHARES[f] / total) * n - started.count(f))


class FamilySampler:
    """An optuna sampler that picks the family by `next_family` and the rest with `base`.

    The family is left out of the base sampler's joint (relative) space and sampled
    independently here; enqueued trials keep the family they were given.
    """

    def __init__(self, base: Any, families: tuple[str, ...]) -> None:
        self.base = base
        self.families = families

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        space = self.base.infer_relative_search_space(study, trial)
        return {name: d for name, d in space.items() if name != FAMILY_PARAM}

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict:
        return self.base.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: Any, trial: Any, param_name: str, param_distribution: Any
    ) -> Any:
        if param_name != FAMILY_PARAM:
            return self.base.sample_independent(study, trial, param_name, param_distribution)
        started = [
            t.params[FAMILY_PARAM]
            for t in study.get_trials(deepcopy=False)
            if t.number < trial.number and FAMILY_PARAM in t.params
        ]
        return next_family(started, self.families)

    def before_trial(self, study: Any, trial: Any) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
