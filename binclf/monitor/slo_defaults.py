"""Default SLOs for a spec that names none, derived from the champion's card.

Objectives keep a margin from the card's test intervals, and an SLI that could never alert at the
card's base rate and daily volume is left out with the reason, rather than shown as a green check
that cannot turn red.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from binclf.monitor.slo import DEFAULT_MIN_VOLUME, allowed_error_rate, burn_rules
from binclf.spec import SloDefinition

DEFAULT_MARGIN = 1.25  # a default SLO allows this many times the card's pessimistic error rate


@dataclass(frozen=True)
class DefaultSlos:
    """The SLOs derived from a champion's card, and the SLIs left out with the reason."""

    slos: list[SloDefinition]
    skipped: dict[str, str]


def _estimate(card: Mapping[str, Any], metric: str, bound: str) -> float | None:
    value = (card.get("test_metrics") or {}).get(metric)
    if isinstance(value, Mapping) and isinstance(value.get(bound), int | float):
        return float(value[bound])
    return None


def _test_rows_per_day(card: Mapping[str, Any]) -> tuple[float, float] | None:
    """Rows per day and prevalence of the card's test split (None when it does not say)."""
    test = (card.get("splits") or {}).get("test") or {}
    try:
        span = date.fromisoformat(str(test["end"])[:10]) - date.fromisoformat(
            str(test["start"])[:10]
        )
        return float(test["rows"]) / max(span.days, 1), float(test["prevalence"])
    except (KeyError, TypeError, ValueError):
        return None


def _cannot_alert(slo: SloDefinition, daily_volume: float | None) -> str | None:
    """Why an SLO could never fire its slow (ticket) rule, if so: even with every event bad
    its burn stays below the factor, or three days hold fewer events than the volume gate."""
    _, slow = burn_rules(slo.window_days)
    rate = allowed_error_rate(slo)
    if 1.0 / rate < slow.factor:
        return (
            f"objective {slo.objective:.3g} allows an error rate of {rate:.2f}: the burn cannot "
            f"reach {slow.factor:g}x even when every event is bad"
        )
    gate = DEFAULT_MIN_VOLUME[slo.sli]
    if daily_volume is not None and slow.short_days * daily_volume < gate:
        return (
            f"about {daily_volume:.0f} valid events a day: {slow.short_days} days stay below "
            f"the volume gate of {gate:g}"
        )
    return None


def default_slos(card: Mapping[str, Any], *, min_label_coverage: float) -> DefaultSlos:
    """SLOs for a spec that names none, from the champion's test metrics (28-day windows).

    Each performance SLO allows `DEFAULT_MARGIN` times the pessimistic end of the card's test
    interval as its error rate (1 − recall's lower bound, 1 − precision's lower bound, the
    false-positive rate's upper bound), so a model performing as tested spends about 70-80 % of
    its budget; ECE at most the larger of 0.05 and `DEFAULT_MARGIN` times its upper bound. An SLO
    that could never alert at the card's base rate and daily volume (the test split's rows per
    day) is left out and listed in `skipped`: precision at a 2 % base rate allows an error rate
    above 0.9, so its burn can never reach 2x. Label coverage at `min_label_coverage`, decision
    coverage at 0.99 and yesterday's scores by 06:00 UTC.
    """
    volume = _test_rows_per_day(card)
    slos, skipped = [], {}
    for sli, metric, bound in (
        ("recall", "recall", "ci_low"),
        ("precision", "precision", "ci_low"),
        ("false_positive_rate", "fpr", "ci_high"),
    ):
        value = _estimate(card, metric, bound)
        if value is None or not 0 < value < 1:
            skipped[sli] = f"the card has no {metric} interval"
            continue
        error = DEFAULT_MARGIN * (value if sli == "false_positive_rate" else 1.0 - value)
        if error >= 1:
            skipped[sli] = f"{metric} {bound} {value:.3g} leaves no room for a margin"
            continue
        objective = round(error if sli == "false_positive_rate" else 1.0 - error, 4)
        slo = SloDefinition(name=sli, sli=sli, objective=objective)
        daily = None
        if volume is not None:
            rows, prevalence = volume
            positive = _estimate(card, "recall", "value") or 0.0
            fpr = _estimate(card, "fpr", "value") or 0.0
            daily = {
                "recall": rows * prevalence,
                "precision": rows * (prevalence * positive + (1 - prevalence) * fpr),
                "false_positive_rate": rows * (1 - prevalence),
            }[sli]
        why = _cannot_alert(slo, daily)
        if why:
            skipped[sli] = why
        else:
            slos.append(slo)
    ece = max(0.05, DEFAULT_MARGIN * (_estimate(card, "ece", "ci_high") or 0.0))
    slos += [
        SloDefinition(name="ece", sli="ece", objective=min(ece, 0.5)),
        SloDefinition(name="label_coverage", sli="label_coverage", objective=min_label_coverage),
        SloDefinition(name="decision_coverage", sli="decision_coverage", objective=0.99),
        SloDefinition(name="scoring_freshness", sli="scoring_freshness", objective=6),
    ]
    return DefaultSlos(slos, skipped)


DEFAULT_SLO_NAMES = (
    "recall",
    "precision",
    "false_positive_rate",
    "ece",
    "label_coverage",
    "decision_coverage",
    "scoring_freshness",
)
