"""One line that says why a candidate was or was not promoted, with the numbers behind it.

`PROMOTE v0002 over v0001 — PR-AUC 0.143 vs 0.091 on 8,877 shared test rows (04-21..04-30);
Δ +0.052 [+0.027, +0.083] > −0.01 → non-inferior`: the metric of both models on the same rows,
the paired difference with its interval, the bound the interval's lower end had to clear, and
the verdict the decision's reason code stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from binclf.register.comparison import HIGHER_IS_BETTER, PromotionDecision
from binclf.register.gates import GateResult

METRIC_LABELS = {"pr_auc": "PR-AUC", "roc_auc": "ROC-AUC", "log_loss": "log loss", "brier": "Brier"}
VERDICTS = {
    "NON_INFERIOR": "non-inferior",
    "INFERIOR": "worse by more than the margin is not ruled out",
    "BETTER": "better",
    "NOT_BETTER": "not shown better",
}


@dataclass(frozen=True)
class ComparedModels:
    """What both models scored on the shared test rows (no champion: `champion` is None)."""

    challenger: str
    champion: str | None
    metric: str
    challenger_value: float
    champion_value: float | None
    rows: int
    window: tuple[date, date] | None = None


def _signed(value: float, digits: int = 3) -> str:
    return f"{value:+.{digits}f}".replace("-", "−")


def _window(window: tuple[date, date] | None) -> str:
    if window is None:
        return ""
    first, last = window
    style = "%m-%d" if first.year == last.year else "%Y-%m-%d"
    return f" ({first.strftime(style)}..{last.strftime(style)})"


def promotion_headline(decision: PromotionDecision, models: ComparedModels) -> str:
    """The decision in one line: verb, versions, both values, the paired interval, the verdict."""
    label = METRIC_LABELS.get(models.metric, models.metric)
    rows = f"{models.rows:,} shared test rows{_window(models.window)}"
    failed = [g.name for g in decision.gates if not g.passed]
    verb = "PROMOTE" if decision.promote else "REJECT"
    if models.champion is not None and decision.refusal is not None:
        line = f"{verb} {models.challenger} against {models.champion} — no comparison: "
        line += decision.refusal
    elif models.champion is None or decision.comparison is None or models.champion_value is None:
        line = f"{verb} {models.challenger} (no champion) — {label} "
        line += f"{models.challenger_value:.3f} on {rows.replace('shared ', '')}"
    else:
        estimate = decision.comparison
        bound = 0.0 if decision.reasons[-1] in ("BETTER", "NOT_BETTER") else -decision.margin
        sign = ">" if estimate["ci_low"] > bound else "≤"
        direction = "" if HIGHER_IS_BETTER[models.metric] else " (lower is better; Δ = old − new)"
        line = (
            f"{verb} {models.challenger} {'over' if decision.promote else 'against'} "
            f"{models.champion} — {label} {models.challenger_value:.3f} vs "
            f"{models.champion_value:.3f} on {rows}{direction}; Δ {_signed(estimate['value'])} "
            f"[{_signed(estimate['ci_low'])}, {_signed(estimate['ci_high'])}] "
            f"{sign} {_signed(bound, 2) if bound else '0'} → "
            f"{VERDICTS.get(decision.reasons[-1], decision.reasons[-1])}"
        )
    if failed:
        line += "; gates failed: " + ", ".join(failed)
    elif not decision.gates:
        line += "; no gate was evaluated"
    return line


def rejection_line(version: str, gates: list[GateResult]) -> str | None:
    """The verdict on a gate-failed candidate in one line, each failed gate with its reason.

    None when every gate passed. The run that registered the candidate then fails on its blocking
    gate checks, so this line is what an operator reads above Dagster's failure message.
    """
    failed = [g for g in gates if not g.passed]
    if not failed:
        return None
    reasons = "; ".join(f"{g.name}: {g.reason}" for g in failed)
    return (
        f"REJECT {version} — {len(failed)} of {len(gates)} gates failed: {reasons}. "
        f"Recorded as rejected; `binclf card --version {version}` shows the decision record"
    )
