import hashlib
import json

import numpy as np
import pytest

from binclf.evaluate.card import CardError, build_card, card_headline, render_card_markdown
from binclf.io.atomic import json_bytes

MODEL_SHA = hashlib.sha256(b"tree").hexdigest()


def _estimate(value, low, high):
    return {"value": value, "ci_low": low, "ci_high": high}


def _sections(**overrides):
    sections = {
        "version": "v0003",
        "dataset": {"name": "fraud", "data_version": "2026-01-01..2026-04-10"},
        "splits": {
            "train": {
                "rows": np.int64(1200),
                "prevalence": np.float64(0.021),
                "start": "2026-01-01",
            },
            "test": {"rows": 300, "prevalence": 0.02, "start": "2026-04-01", "end": "2026-04-10"},
        },
        "model": {"family": "lightgbm", "parameters": {"num_leaves": 15, "learning_rate": 0.05}},
        "search": {"trials": 20, "pruned": 7, "best_value": 0.0812, "metric": "log_loss"},
        "resampling": {"method": "none"},
        "calibration": {
            "method": "isotonic",
            "before": {"brier": 0.0191, "ece": 0.0123},
            "after": {"brier": 0.0179, "ece": 0.0041},
        },
        "threshold": {
            "policy": {"kind": "min_cost", "target": None},
            "value": np.float32(0.1375),
            "expected_cost": 0.3125,
            "expected_cost_ci": (0.25, 0.375),
        },
        "test_metrics": {
            "roc_auc": _estimate(np.float64(0.9123), 0.8876, 0.9345),
            "pr_auc": _estimate(0.4567, 0.3811, 0.5234),
            "log_loss": _estimate(0.0789, 0.0701, 0.0888),
            "ece": _estimate(0.004, float("nan"), 0.009),
            "confusion": {"tp": 5, "fp": 3, "tn": 290, "fn": 2},
        },
        "top_features": {"amount": 0.2, "country": -0.5, "hour": 0.1},
        "artifacts": {"model.txt": MODEL_SHA},
    }
    sections.update(overrides)
    return sections


def test_build_card_makes_numpy_values_plain_json():
    card = build_card(**_sections())
    assert type(card["splits"]["train"]["rows"]) is int
    assert type(card["threshold"]["value"]) is float
    assert card["test_metrics"]["ece"]["ci_low"] is None
    assert json.loads(json.dumps(card, allow_nan=False)) == card


def test_build_card_turns_a_cost_and_its_interval_into_an_estimate():
    card = build_card(**_sections())
    assert card["threshold"]["expected_cost"] == _estimate(0.3125, 0.25, 0.375)
    assert "expected_cost_ci" not in card["threshold"]


def test_top_features_are_ordered_by_absolute_importance():
    card = build_card(**_sections())
    assert [item["feature"] for item in card["top_features"]] == ["country", "amount", "hour"]


def test_build_card_names_a_missing_section():
    sections = _sections()
    del sections["calibration"]
    with pytest.raises(CardError, match=r"missing required sections \['calibration'\]"):
        build_card(**sections)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"shap": {}}, "unknown card sections"),
        ({"test_metrics": {"roc_auc": _estimate(0.9, 0.8, 1.0)}}, "pr_auc"),
        ({"model": {"family": "lightgbm", "parameters": []}}, "model.parameters"),
        ({"artifacts": {"model.txt": "abc"}}, "artifacts.model.txt"),
        ({"splits": {"test": {"rows": 1.5, "prevalence": 0.1}}}, "splits.test.rows"),
        ({"threshold": {"policy": "min_cost", "value": 0.1, "expected_cost": 0.2}}, "interval"),
    ],
)
def test_build_card_rejects_malformed_sections(overrides, message):
    with pytest.raises(CardError, match=message):
        build_card(**_sections(**overrides))


def test_headline_shows_version_family_metrics_threshold_and_cost():
    headline = card_headline(build_card(**_sections()))
    assert headline.splitlines() == [
        "fraud v0003 · lightgbm",
        "ROC-AUC 0.9123 [0.8876, 0.9345] · PR-AUC 0.4567 [0.3811, 0.5234] · "
        "log loss 0.0789 [0.0701, 0.0888] · threshold 0.1375 (min_cost) · "
        "expected cost 0.3125 [0.25, 0.375] per row",
    ]


def test_headline_takes_the_version_when_the_card_has_none():
    sections = _sections()
    del sections["version"]
    assert card_headline(build_card(**sections), version="v0007").startswith("fraud v0007 ·")


def test_markdown_includes_headline_numbers_sections_and_images():
    card = build_card(**_sections(gates=[{"name": "roc_auc_min", "value": 0.91, "passed": True}]))
    markdown = render_card_markdown(card, images={"ROC curve": "![ROC curve](data:image/png;x)"})
    assert markdown.startswith("# Model card: fraud v0003\n")
    for expected in (
        "ROC-AUC 0.9123 [0.8876, 0.9345]",
        "expected cost 0.3125 [0.25, 0.375] per row",
        "| test | 300 | 0.02 | 2026-04-01 | 2026-04-10 |",
        "| brier | 0.0191 | 0.0179 |",
        "| ece | 0.004 | [n/a, 0.009] |",
        "| num_leaves | 15 |",
        "| country | -0.5 |",
        "- Trials: 20",
        "- Policy: min_cost",
        "| roc_auc_min | 0.91 | yes |",
        "tp 5, fp 3, tn 290, fn 2",
        f"| `model.txt` | `{MODEL_SHA}` |",
        "### ROC curve\n\n![ROC curve](data:image/png;x)",
    ):
        assert expected in markdown


def test_markdown_renders_the_same_from_card_json():
    card = build_card(**_sections(decision={"promote": False, "reason_codes": ["gate_failed"]}))
    reloaded = json.loads(json_bytes(card))
    assert render_card_markdown(reloaded) == render_card_markdown(card)
    markdown = render_card_markdown(card)
    assert (
        "## Promotion decision\n\n- Promote: no\n\n**Reason codes**\n\n- gate_failed\n" in markdown
    )
    assert "\n\n\n" not in markdown
