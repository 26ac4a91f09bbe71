"""Charts come back as small PNGs of the agreed size, embeddable as Markdown."""

from __future__ import annotations

import base64
import struct

import numpy as np
import pytest

from binclf.stats.plots import (
    PlotInputError,
    plot_feature_importance,
    plot_precision_recall,
    plot_reliability,
    plot_roc,
    plot_score_distribution,
    png_markdown,
    quantile_bins,
    reliability_figure,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG header chunk."""
    assert png.startswith(PNG_SIGNATURE)
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.fixture(scope="module")
def scored_rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    p = rng.beta(1.0, 5.0, 2_000)
    return (rng.uniform(size=len(p)) < p).astype(np.int8), p


def test_every_chart_is_a_readable_600_by_450_png(scored_rows) -> None:
    y, p = scored_rows
    charts = {
        "reliability": plot_reliability(y, {"before": p**0.5, "after": p}),
        "roc": plot_roc(y, {"model": p}, weights=np.full(len(y), 2.0)),
        "precision_recall": plot_precision_recall(y, {"model": p, "noise": 1.0 - p}),
        "scores": plot_score_distribution(y, p, threshold=0.3),
        "importance": plot_feature_importance({f"feature_{i}": float(i - 10) for i in range(25)}),
    }
    for name, png in charts.items():
        assert _png_size(png) == (600, 450), name
        assert 2_000 < len(png) < 80_000, name


def test_png_markdown_embeds_the_exact_bytes(scored_rows) -> None:
    y, p = scored_rows
    png = plot_roc(y, {"model": p})
    markdown = png_markdown(png, "ROC [test]")

    prefix = "![ROC (test)](data:image/png;base64,"
    assert markdown.startswith(prefix)
    assert markdown.endswith(")")
    assert base64.b64decode(markdown[len(prefix) : -1]) == png


def test_bad_chart_inputs_are_rejected_with_the_reason(scored_rows) -> None:
    y, p = scored_rows
    with pytest.raises(PlotInputError, match="curves is empty"):
        plot_roc(y, {})
    with pytest.raises(PlotInputError, match="importance is empty"):
        plot_feature_importance({})
    with pytest.raises(PlotInputError, match="must be finite"):
        plot_feature_importance({"a": float("nan")})
    with pytest.raises(PlotInputError, match="does not hold PNG data"):
        png_markdown(b"GIF89a", "not a png")
    with pytest.raises(ValueError, match="y has 2000 rows but p has 10"):
        plot_reliability(y, {"before": p[:10]})


def test_quantile_bins_hold_equal_shares_of_the_rows_at_two_percent_prevalence() -> None:
    rng = np.random.default_rng(1)
    p = rng.beta(0.5, 25.0, 10_000)  # mean about 0.02: equal-width bins put ~all rows in one
    y = (rng.uniform(size=p.size) < p).astype(np.int8)

    bins = quantile_bins(y, p, n_bins=10)

    assert len(bins.count) == 10
    assert bins.count.sum() == p.size
    assert np.all(np.abs(bins.count - 1_000) <= 1)
    assert np.all(np.diff(bins.mean_predicted) > 0)
    for low, high, mean, rate, n in zip(
        bins.edges[:-1],
        bins.edges[1:],
        bins.mean_predicted,
        bins.observed_rate,
        bins.count,
        strict=True,
    ):
        inside = (p >= low) & ((p < high) | (high == bins.edges[-1]))
        assert inside.sum() == n
        assert mean == pytest.approx(p[inside].mean())
        assert rate == pytest.approx(y[inside].mean())


def test_quantile_bins_weight_the_rates_and_keep_tied_probabilities_together() -> None:
    p = np.array([0.1, 0.1, 0.1, 0.1, 0.2, 0.3])
    y = np.array([0, 1, 0, 0, 1, 1])
    w = np.array([1.0, 3.0, 1.0, 1.0, 1.0, 1.0])

    bins = quantile_bins(y, p, n_bins=3, weights=w)

    assert bins.count.sum() == 6
    assert bins.count[0] == 4  # the four tied rows share one bin
    assert bins.observed_rate[0] == pytest.approx(3.0 / 6.0)
    with pytest.raises(PlotInputError, match="n_bins must be a positive integer"):
        quantile_bins(y, p, n_bins=0)


def test_reliability_diagram_labels_each_point_with_its_row_count_and_zooms_in() -> None:
    rng = np.random.default_rng(2)
    p = rng.beta(0.5, 25.0, 5_000)
    y = (rng.uniform(size=p.size) < p).astype(np.int8)

    figure = reliability_figure(y, {"calibrated": p}, n_bins=5)
    (axes,) = figure.axes

    assert sorted(text.get_text() for text in axes.texts) == ["1,000"] * 5
    assert axes.get_xlim()[1] < 0.5  # not squashed into the corner of [0, 1]
