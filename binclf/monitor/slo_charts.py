"""A PNG per SLO over time: the SLI against its objective, and the error budget left.

Days are drawn at equal spacing (x labels month-day) in the standard 600 x 450 of
`binclf.stats.plots`; days the fast rule pages are marked red, slow-burn tickets orange.
"""

from __future__ import annotations

import numpy as np

from binclf.monitor.slo_days import SloTimeline
from binclf.stats.plots import new_axes, png_bytes

_MARKS = {"page": ("#d62728", "page (fast burn)"), "ticket": ("#ff7f0e", "ticket (slow burn)")}


def _floats(values: tuple[float | None, ...]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values])


def slo_chart(timeline: SloTimeline) -> bytes:
    """SLI per day with the objective (left axis) and the remaining budget (right axis)."""
    figure, axes = new_axes(f"SLO {timeline.slo}: {timeline.sli} and error budget")
    x = np.arange(len(timeline.days))
    sli = _floats(timeline.sli_values)
    axes.plot(x, sli, marker="o", markersize=3, color="#1f77b4", label=f"{timeline.sli} (window)")
    axes.axhline(timeline.objective, color="#2ca02c", linestyle="--", label="objective")
    for severity, (color, label) in _MARKS.items():
        hit = np.array([s == severity for s in timeline.severities], dtype=bool)
        if hit.any():
            axes.scatter(x[hit], sli[hit], color=color, zorder=3, s=28, label=label)
    axes.set_ylabel(timeline.sli)
    budget_axes = axes.twinx()
    budget = _floats(timeline.remaining_budget)
    budget_axes.fill_between(x, 0, budget, color="grey", alpha=0.15, step="mid")
    budget_axes.plot(x, budget, color="dimgrey", linewidth=1, label="remaining budget")
    budget_axes.axhline(0.0, color="dimgrey", linewidth=0.6)
    budget_axes.set_ylabel("remaining error budget (share of window's)")
    low = np.nanmin(budget) if np.isfinite(budget).any() else 0.0
    budget_axes.set_ylim(min(low, 0.0) - 0.05, 1.05)
    step = max(1, len(x) // 10)
    labels = [d.isoformat()[5:] for d in timeline.days]
    axes.set_xticks(list(x[::step]), labels=labels[::step], fontsize=8)
    axes.set_xlim(-0.5, max(len(x) - 0.5, 0.5))
    axes.set_xlabel("as of day")
    lines = axes.get_legend_handles_labels()
    more = budget_axes.get_legend_handles_labels()
    axes.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="lower left")
    return png_bytes(figure)
