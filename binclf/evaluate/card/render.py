"""Building a model card from its sections, and rendering it for people.

`build_card` checks the sections against `ModelCard` and returns the JSON-ready dict stored
with the version as card.json; `render_card_markdown` renders it as Markdown and
`card_headline` gives the one-glance summary.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from binclf.evaluate.card.models import (
    CARD_FORMAT,
    HEADLINE_METRICS,
    OPTIONAL_SECTIONS,
    REQUIRED_SECTIONS,
    CardError,
    validated_card,
)
from binclf.io.atomic import to_json_safe

_METRIC_LABELS = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "log_loss": "log loss"}
_ESTIMATE_KEYS = ("value", "ci_low", "ci_high")


def build_card(**sections: Any) -> dict[str, Any]:
    """Validate the sections of a model card (`ModelCard`) and return it as a JSON-safe dict.

    Required: dataset {name, data_version}, splits {split: {rows, prevalence, start?, end?}},
    model {family, parameters}, search {trials, pruned, best_value}, resampling {method},
    calibration {method, before, after}, threshold {policy, value, expected_cost},
    test_metrics {metric: Estimate} with roc_auc/pr_auc/log_loss, top_features
    ({name: importance} or [{feature, importance}]), artifacts {file: sha256}.
    Optional: version, created_at, fairness, slices, gates, decision (free-form JSON).
    """
    unknown = sorted(set(sections) - set(REQUIRED_SECTIONS) - set(OPTIONAL_SECTIONS))
    if unknown:
        raise CardError(
            f"unknown card sections {unknown}; allowed: "
            f"{list(REQUIRED_SECTIONS + OPTIONAL_SECTIONS)}"
        )
    missing = [name for name in REQUIRED_SECTIONS if sections.get(name) is None]
    if missing:
        raise CardError(f"model card is missing required sections {missing}")
    safe = {
        name: to_json_safe(value, where=name)
        for name, value in sections.items()
        if value is not None
    }
    card = validated_card(safe)
    return {"card_format": CARD_FORMAT, **card.model_dump(mode="json", exclude_unset=True)}


def card_headline(card: Mapping[str, Any], *, version: str | None = None) -> str:
    """Two lines: dataset, version and family; then ROC-AUC, PR-AUC and log loss with intervals,
    the threshold with its policy and the expected cost per row with its interval."""
    version = version or card.get("version") or "(unregistered)"
    metrics = card["test_metrics"]
    threshold = card["threshold"]
    first = f"{card['dataset']['name']} {version} · {card['model']['family']}"
    parts = [
        f"{_METRIC_LABELS[name]} {_format_estimate(metrics[name])}" for name in HEADLINE_METRICS
    ]
    parts.append(
        f"threshold {_format_number(threshold['value'])} ({_format_policy(threshold['policy'])})"
    )
    rows = " on test rows" if threshold.get("expected_cost_rows") == "test" else ""
    parts.append(f"expected cost {_format_estimate(threshold['expected_cost'])} per row{rows}")
    return first + "\n" + " · ".join(parts)


def render_card_markdown(
    card: Mapping[str, Any], *, images: Mapping[str, str] | None = None
) -> str:
    """Render a card (from `build_card` or read back from card.json) as Markdown.

    `images` maps a title to a Markdown snippet (e.g. an embedded PNG) appended under "Plots".
    """
    card = build_card(**{name: value for name, value in card.items() if name != "card_format"})
    version = card.get("version", "(unregistered)")
    lines = [f"# Model card: {card['dataset']['name']} {version}", ""]
    lines += [f"**{line}**  " for line in card_headline(card).splitlines()]
    if "created_at" in card:
        lines += ["", f"Created at {card['created_at']}."]
    lines += _section("Dataset", _render_free(card["dataset"]))
    lines += _section("Splits", _render_splits(card["splits"]))
    model = dict(card["model"])
    parameters = model.pop("parameters")
    parameter_rows = [[name, _format_cell(value)] for name, value in parameters.items()]
    lines += _section(
        "Model", [*_render_free(model), "", *_table(["parameter", "value"], parameter_rows)]
    )
    lines += _section("Hyperparameter search", _render_free(card["search"]))
    lines += _section("Resampling", _render_free(card["resampling"]))
    lines += _section("Calibration", _render_calibration(card["calibration"]))
    lines += _section("Threshold", _render_free(card["threshold"]))
    lines += _section("Test metrics", _render_metrics(card["test_metrics"]))
    feature_rows = [
        [item["feature"], _format_number(item["importance"])] for item in card["top_features"]
    ]
    lines += _section("Top features", _table(["feature", "importance"], feature_rows))
    for name, title in (
        ("fairness", "Fairness"),
        ("slices", "Slices"),
        ("gates", "Gates"),
        ("decision", "Promotion decision"),
    ):
        if name in card:
            lines += _section(title, _render_free(card[name]))
    artifact_rows = [[f"`{name}`", f"`{digest}`"] for name, digest in card["artifacts"].items()]
    lines += _section("Artifacts", _table(["file", "sha256"], artifact_rows))
    if images:
        plots = []
        for title, snippet in images.items():
            plots += [f"### {title}", "", snippet, ""]
        lines += _section("Plots", plots)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip() + "\n"


# Rendering ------------------------------------------------------------------------------------


def _format_number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _is_estimate(value: Any) -> bool:
    return isinstance(value, Mapping) and all(key in value for key in _ESTIMATE_KEYS)


def _format_estimate(estimate: Mapping[str, Any]) -> str:
    low, high = _format_number(estimate["ci_low"]), _format_number(estimate["ci_high"])
    return f"{_format_number(estimate['value'])} [{low}, {high}]"


def _format_policy(policy: Any) -> str:
    if not isinstance(policy, Mapping):
        return _format_number(policy)
    kind = policy.get("kind", "policy")
    target = policy.get("target")
    return f"{kind} (target={_format_number(target)})" if target is not None else str(kind)


def _format_cell(value: Any) -> str:
    if _is_estimate(value):
        text = _format_estimate(value)
    elif isinstance(value, Mapping | list):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = _format_number(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _section(title: str, body: list[str]) -> list[str]:
    return ["", f"## {title}", "", *body]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["(none)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _render_free(value: Any) -> list[str]:
    """Render free-form JSON: scalars and estimates as bullets, lists of records as tables."""
    if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        columns = list(dict.fromkeys(key for item in value for key in item))
        rows = [[_format_cell(item.get(column)) for column in columns] for item in value]
        return _table(columns, rows)
    if isinstance(value, list):
        return [f"- {_format_cell(item)}" for item in value] or ["(none)"]
    if not isinstance(value, Mapping) or _is_estimate(value):
        return [_format_cell(value)]
    lines: list[str] = []
    for key, item in value.items():
        if key == "policy":
            lines.append(f"- {_label(key)}: {_format_policy(item)}")
        elif _is_estimate(item):
            lines.append(f"- {_label(key)}: {_format_estimate(item)}")
        elif isinstance(item, Mapping | list):
            lines += ["", f"**{_label(key)}**", "", *_render_free(item), ""]
        else:
            lines.append(f"- {_label(key)}: {_format_cell(item)}")
    return lines


def _render_splits(splits: Mapping[str, Any]) -> list[str]:
    rows = [
        [
            name,
            _format_number(split["rows"]),
            _format_number(split["prevalence"]),
            _format_number(split.get("start")),
            _format_number(split.get("end")),
        ]
        for name, split in splits.items()
    ]
    return _table(["split", "rows", "prevalence", "from", "to"], rows)


def _render_calibration(calibration: Mapping[str, Any]) -> list[str]:
    before, after = calibration["before"], calibration["after"]
    names = list(dict.fromkeys([*before, *after]))
    rows = [[name, _format_cell(before.get(name)), _format_cell(after.get(name))] for name in names]
    extras = {k: v for k, v in calibration.items() if k not in ("before", "after")}
    return [*_render_free(extras), "", *_table(["metric", "before", "after"], rows)]


def _render_metrics(metrics: Mapping[str, Any]) -> list[str]:
    rows = [
        [
            name,
            _format_number(m["value"]),
            f"[{_format_number(m['ci_low'])}, {_format_number(m['ci_high'])}]",
        ]
        for name, m in metrics.items()
        if name != "confusion"
    ]
    lines = _table(["metric", "value", "interval"], rows)
    if "confusion" in metrics:
        counts = ", ".join(f"{k} {_format_cell(v)}" for k, v in metrics["confusion"].items())
        lines += ["", f"Confusion at the threshold: {counts}."]
    return lines
