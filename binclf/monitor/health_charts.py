"""PNG charts of model health per day, each with bands for the version that served the days.

Days are drawn at equal spacing in date order (a day without a value is a gap); the x labels are
month-day. All charts are the standard 600 x 450 of `binclf.stats.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from binclf.monitor.health import AlarmStreak, FeatureDriftGrid, HealthDay, alarm_streaks
from binclf.stats.plots import new_axes, png_bytes

_BAND_COLORS = ("#eef3fb", "#fbf3e8")
_TOP_LEGEND = {"loc": "upper center", "bbox_to_anchor": (0.5, 0.95), "ncol": 4}


def _values(days: Sequence[HealthDay], name: str) -> np.ndarray:
    """One attribute per day as floats, NaN where absent (matplotlib leaves a gap)."""
    return np.array([np.nan if getattr(d, name) is None else float(getattr(d, name)) for d in days])


def _day_axis(axes: Axes, labels: Sequence[str]) -> None:
    step = max(1, len(labels) // 10)
    ticks = list(range(0, len(labels), step))
    axes.set_xticks(ticks, labels=[labels[i][5:] for i in ticks], fontsize=8)
    axes.set_xlim(-0.5, len(labels) - 0.5)
    axes.set_xlabel("day")


def _version_bands(axes: Axes, days: Sequence[HealthDay]) -> None:
    """Shade each run of days served by one model version and name it at the top."""
    start, band = 0, 0
    for index in range(1, len(days) + 1):
        if index < len(days) and days[index].model_version == days[start].model_version:
            continue
        version = days[start].model_version
        if version is not None:
            color = _BAND_COLORS[band % len(_BAND_COLORS)]
            axes.axvspan(start - 0.5, index - 0.5, color=color, zorder=0)
            band += 1
            axes.text(
                (start + index - 1) / 2,
                0.99,
                version,
                transform=axes.get_xaxis_transform(),
                ha="center",
                va="top",
                fontsize=8,
                color="dimgrey",
            )
        start = index


def _streak_spans(axes: Axes, days: Sequence[HealthDay], streaks: list[AlarmStreak]) -> None:
    index = {d.day: i for i, d in enumerate(days)}
    for number, streak in enumerate(streaks):
        axes.axvspan(
            index[streak.first] - 0.45,
            index[streak.last] + 0.45,
            color="#d62728",
            alpha=0.15,
            zorder=1,
            label="alarm streak" if number == 0 else None,
        )


def drift_share_chart(days: Sequence[HealthDay], *, threshold: float) -> bytes:
    """Share of drifted features per day, the alarm threshold and the alarm streaks."""
    figure, axes = new_axes("Drift share per day")
    _version_bands(axes, days)
    streaks = alarm_streaks(days)
    _streak_spans(axes, days, streaks)
    x = np.arange(len(days))
    share = _values(days, "share_drifted")
    axes.plot(x, share, marker="o", markersize=4, color="#1f77b4", label="share drifted")
    axes.axhline(
        threshold, color="#d62728", linestyle="--", linewidth=1, label=f"alarm ≥ {threshold:.3g}"
    )
    longest = max((s.days for s in streaks), default=0)
    axes.set_ylim(0, 1.2)
    axes.set_ylabel("share of features drifted")
    _day_axis(axes, [d.day for d in days])
    axes.legend(
        fontsize=8,
        title=f"longest alarm streak: {longest} days",
        title_fontsize=8,
        **_TOP_LEGEND,
    )
    return png_bytes(figure)


def drift_heatmap(grid: FeatureDriftGrid) -> bytes:
    """Jensen-Shannon distance of each feature on each day; drifted cells are marked x."""
    figure, axes = new_axes("Feature drift (Jensen-Shannon distance)")
    values = np.array(
        [[np.nan if v is None else v for v in row] for row in grid.statistic], dtype=float
    ).reshape(len(grid.features), len(grid.days))
    top = max(0.2, float(np.nanmax(values, initial=0.0)))
    image = axes.imshow(
        values, aspect="auto", cmap="Reds", vmin=0.0, vmax=top, interpolation="none"
    )
    rows, columns = np.nonzero(np.array(grid.drifted, dtype=bool).reshape(values.shape))
    axes.scatter(columns, rows, marker="x", s=30, color="#1f77b4", linewidths=1.5, label="drifted")
    axes.set_yticks(
        range(len(grid.features)),
        labels=grid.features,
        fontsize=max(5, 9 - len(grid.features) // 8),
    )
    _day_axis(axes, list(grid.days))
    axes.set_ylim(len(grid.features) - 0.5, -0.5)
    figure.colorbar(image, ax=axes, label="distance", shrink=0.9)
    return png_bytes(figure)


def prediction_chart(days: Sequence[HealthDay]) -> bytes:
    """Prediction drift (distance of the score distribution) with flag rate and mean probability."""
    figure, axes = new_axes("Prediction drift and flag rate per day")
    _version_bands(axes, days)
    x = np.arange(len(days))
    distance = _values(days, "prediction_js")
    drifted = np.array([bool(d.prediction_drifted) for d in days])
    axes.plot(x, distance, marker="o", markersize=4, color="#9467bd", label="prediction distance")
    axes.scatter(
        x[drifted],
        distance[drifted],
        s=50,
        facecolors="none",
        edgecolors="#d62728",
        label="prediction drifted",
        zorder=3,
    )
    axes.set_ylabel("Jensen-Shannon distance of the scores")
    axes.set_ylim(0, max(0.2, float(np.nanmax(distance, initial=0.0))) * 1.3)
    rates = axes.twinx()
    rates.plot(
        x, _values(days, "flag_rate"), color="#ff7f0e", marker="s", markersize=3, label="flag rate"
    )
    rates.plot(
        x,
        _values(days, "mean_probability"),
        color="#2ca02c",
        linestyle="--",
        label="mean probability",
    )
    rates.set_ylabel("share of rows")
    top = np.nanmax([*_values(days, "flag_rate"), *_values(days, "mean_probability"), 0.0])
    rates.set_ylim(0, max(float(top), 0.01) * 1.3)
    _day_axis(axes, [d.day for d in days])
    handles = [*axes.get_legend_handles_labels()[0], *rates.get_legend_handles_labels()[0]]
    axes.legend(handles=handles, fontsize=8, **_TOP_LEGEND)
    return png_bytes(figure)


def realized_chart(days: Sequence[HealthDay]) -> bytes:
    """Realized precision, recall and PR-AUC on the labeled rows, over label coverage bars."""
    figure, axes = new_axes("Realized performance per day (labeled rows)")
    _version_bands(axes, days)
    x = np.arange(len(days))
    axes.bar(
        x,
        _values(days, "label_coverage"),
        width=0.8,
        color="lightgrey",
        label="label coverage",
        zorder=1,
    )
    for name, color in (("precision", "#1f77b4"), ("recall", "#ff7f0e"), ("pr_auc", "#2ca02c")):
        axes.plot(
            x,
            _values(days, name),
            marker="o",
            markersize=3,
            color=color,
            label=name.replace("_", "-").upper() if name == "pr_auc" else name,
            zorder=2,
        )
    axes.set_ylim(0, 1.2)
    axes.set_ylabel("value / coverage")
    _day_axis(axes, [d.day for d in days])
    axes.legend(fontsize=8, **_TOP_LEGEND)
    return png_bytes(figure)


def health_charts(
    days: Sequence[HealthDay], grid: FeatureDriftGrid, *, threshold: float
) -> dict[str, bytes]:
    """Every health chart by name; an empty history draws nothing."""
    if not days:
        return {}
    charts = {
        "drift_share": drift_share_chart(days, threshold=threshold),
        "prediction_drift": prediction_chart(days),
        "realized_performance": realized_chart(days),
    }
    if grid.features and grid.days:
        charts["feature_drift"] = drift_heatmap(grid)
    return charts
