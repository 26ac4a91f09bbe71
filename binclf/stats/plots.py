"""Small PNG charts for run metadata: reliability, ROC, precision-recall, scores, importance.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot state, no display),
7.5 x 5.625 inches at 80 dpi (600 x 450 px): readable in the UI, and a base64-embedded image stays
around 30-60 kB. Numbers on a chart are rounded to three significant figures.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import auc, precision_recall_curve, roc_curve

from binclf.stats.metrics import validate_inputs

FIGURE_SIZE = (7.5, 5.625)
DPI = 80


class PlotInputError(ValueError):
    """Data that cannot be drawn."""


def new_axes(title: str) -> tuple[Figure, Axes]:
    """A figure of the standard size on the Agg canvas, with one titled axes."""
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="tight")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.set_title(title, fontsize=11)
    return figure, axes


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes at the standard size."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _check_curves(curves: Mapping[str, np.ndarray]) -> None:
    if not curves:
        raise PlotInputError("curves is empty; pass at least one name -> probabilities")


@dataclass(frozen=True)
class QuantileBins:
    """Equal-mass bins of probabilities: rows, mean probability and observed rate per bin."""

    edges: np.ndarray
    count: np.ndarray  # rows per bin
    weight: np.ndarray  # summed weights per bin
    mean_predicted: np.ndarray
    observed_rate: np.ndarray


def quantile_bins(
    y: np.ndarray, p: np.ndarray, *, n_bins: int = 10, weights: np.ndarray | None = None
) -> QuantileBins:
    """Bins cut at the quantiles of `p`, so each holds about n / `n_bins` rows.

    Equal-width bins put nearly every row of a rare-positive problem in the first bin; equal-mass
    bins spread the points over the range the model actually uses. Tied probabilities stay in one
    bin, so bins can be fewer (and fuller) than asked when many rows share a value.
    """
    y, p, w = validate_inputs(y, p, weights=weights, require_both_classes=False)
    if not isinstance(n_bins, int) or n_bins < 1:
        raise PlotInputError(f"n_bins must be a positive integer, got {n_bins!r}")
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
    index = np.searchsorted(edges[1:-1], p, side="right")
    size = max(len(edges) - 1, 1)
    count = np.bincount(index, minlength=size)
    total = np.bincount(index, weights=w, minlength=size)
    filled = total > 0
    return QuantileBins(
        edges=edges,
        count=count[filled],
        weight=total[filled],
        mean_predicted=np.bincount(index, weights=w * p, minlength=size)[filled] / total[filled],
        observed_rate=np.bincount(index, weights=w * y, minlength=size)[filled] / total[filled],
    )


def reliability_figure(
    y: np.ndarray,
    curves: Mapping[str, np.ndarray],
    *,
    n_bins: int = 10,
    weights: np.ndarray | None = None,
    title: str = "Reliability",
) -> Figure:
    """The reliability diagram of `plot_reliability`, as a figure (its texts are the counts)."""
    _check_curves(curves)
    figure, axes = new_axes(title)
    top = 0.0
    for name, p in curves.items():
        bins = quantile_bins(y, p, n_bins=n_bins, weights=weights)
        (line,) = axes.plot(
            bins.mean_predicted, bins.observed_rate, marker="o", markersize=4, label=name
        )
        for x, rate, n in zip(bins.mean_predicted, bins.observed_rate, bins.count, strict=True):
            axes.annotate(
                f"{int(n):,}",
                (x, rate),
                textcoords="offset points",
                xytext=(3, 4),
                fontsize=7,
                color=line.get_color(),
            )
        top = max(top, float(bins.mean_predicted.max()), float(bins.observed_rate.max()))
    limit = min(1.0, top * 1.1 + 0.01)
    axes.plot([0, limit], [0, limit], linestyle="--", color="grey", linewidth=1, label="perfect")
    axes.set_xlim(0, limit)
    axes.set_ylim(0, limit)
    axes.set_xlabel("mean predicted probability (equal-mass bins; labels: rows per bin)")
    axes.set_ylabel("observed positive rate")
    axes.legend(fontsize=8, loc="upper left")
    return figure


def plot_reliability(
    y: np.ndarray,
    curves: Mapping[str, np.ndarray],
    *,
    n_bins: int = 10,
    weights: np.ndarray | None = None,
    title: str = "Reliability",
) -> bytes:
    """Observed positive rate against mean predicted probability per equal-mass bin.

    `curves` maps a label (e.g. "before", "after") to probabilities of the same rows. Each point
    is labeled with its bin's row count; the axes zoom to the range the probabilities use.
    """
    return png_bytes(reliability_figure(y, curves, n_bins=n_bins, weights=weights, title=title))


def plot_roc(
    y: np.ndarray,
    curves: Mapping[str, np.ndarray],
    *,
    weights: np.ndarray | None = None,
    title: str = "ROC",
) -> bytes:
    """ROC curve of each named score, with its AUC in the legend."""
    _check_curves(curves)
    figure, axes = new_axes(title)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    for name, p in curves.items():
        y_checked, p_checked, w = validate_inputs(y, p, weights=weights)
        fpr, tpr, _ = roc_curve(y_checked, p_checked, sample_weight=w)
        axes.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3g})")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.legend(fontsize=8, loc="lower right")
    return png_bytes(figure)


def plot_precision_recall(
    y: np.ndarray,
    curves: Mapping[str, np.ndarray],
    *,
    weights: np.ndarray | None = None,
    title: str = "Precision-recall",
) -> bytes:
    """Precision-recall curve of each named score, with the prevalence as the chance line."""
    _check_curves(curves)
    figure, axes = new_axes(title)
    for name, p in curves.items():
        y_checked, p_checked, w = validate_inputs(y, p, weights=weights)
        precision, recall, _ = precision_recall_curve(
            y_checked, p_checked, sample_weight=w, drop_intermediate=True
        )
        axes.step(recall, precision, where="post", label=name)
    y_checked, _, w = validate_inputs(y, next(iter(curves.values())), weights=weights)
    prevalence = float(np.sum(w * y_checked) / np.sum(w))
    axes.axhline(
        prevalence, linestyle="--", color="grey", linewidth=1, label=f"prevalence {prevalence:.3g}"
    )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.legend(fontsize=8, loc="upper right")
    return png_bytes(figure)


def plot_score_distribution(
    y: np.ndarray,
    p: np.ndarray,
    *,
    threshold: float | None = None,
    n_bins: int = 40,
    title: str = "Scores by class",
) -> bytes:
    """Histogram of probabilities for each class, each scaled to its own total (density)."""
    y_checked, p_checked, _ = validate_inputs(y, p)
    figure, axes = new_axes(title)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    for label, name in ((0, "negative"), (1, "positive")):
        axes.hist(
            p_checked[y_checked == label],
            bins=edges,
            density=True,
            histtype="stepfilled",
            alpha=0.5,
            label=name,
        )
    if threshold is not None:
        axes.axvline(threshold, color="black", linewidth=1, label=f"threshold {threshold:.3g}")
    axes.set_xlabel("probability")
    axes.set_ylabel("density")
    axes.legend(fontsize=8, loc="upper right")
    return png_bytes(figure)


def plot_feature_importance(
    importance: Mapping[str, float], *, top_n: int = 20, title: str = "Feature importance"
) -> bytes:
    """Horizontal bars of the `top_n` features by absolute value, largest on top."""
    if not importance:
        raise PlotInputError("importance is empty; pass feature name -> value")
    values = {name: float(value) for name, value in importance.items()}
    if not all(np.isfinite(v) for v in values.values()):
        raise PlotInputError("importance values must be finite numbers")
    top = sorted(values.items(), key=lambda item: abs(item[1]), reverse=True)[:top_n]
    names, heights = zip(*reversed(top), strict=True)
    figure, axes = new_axes(title)
    axes.barh(range(len(names)), heights)
    axes.set_yticks(range(len(names)), labels=names, fontsize=7)
    axes.axvline(0.0, color="grey", linewidth=0.8)
    axes.set_xlabel("importance")
    return png_bytes(figure)


def png_markdown(png: bytes, title: str) -> str:
    """Markdown that embeds the PNG inline, as `![title](data:image/png;base64,...)`."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise PlotInputError("png does not hold PNG data")
    safe_title = title.replace("[", "(").replace("]", ")")
    return f"![{safe_title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
