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


def test_every_chart_is_a_small_400_by_320_png(scored_rows) -> None:
    y, p = scored_rows
    charts = {
        "reliability": plot_reliability(y, {"before": p**0.5, "after": p}),
        "roc": plot_roc(y, {"model": p}, weights=np.full(len(y), 2.0)),
        "precision_recall": plot_precision_recall(y, {"model": p, "noise": 1.0 - p}),
        "scores": plot_score_distribution(y, p, threshold=0.3),
        "importance": plot_feature_importance({f"feature_{i}": float(i - 10) for i in range(25)}),
    }
    for name, png in charts.items():
        assert _png_size(png) == (400, 320), name
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
