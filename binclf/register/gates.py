"""Quality gates a challenger model must pass before it can be promoted.

Each gate compares one number from the evaluation evidence with a threshold. Gates fail closed:
evidence that is absent, null or not a number fails its gate with the reason
"missing evidence: <key>" (or "not a number: <key>"), so a broken upstream step can never
promote a model by omission.

Gates use point values, not interval bounds. The thresholds are absolute quality bars people set
by reading point metrics, and the uncertainty is handled where it decides something: the
`min_test_rows` / `min_test_positives` gates refuse evidence too thin to judge, slice gates only
look at slices with enough positives, and the champion comparison uses the lower bound of a
paired bootstrap interval. Gating every metric on its lower bound as well would make a good model
fail more often the smaller the test set, penalising sample size twice. The intervals stay in
the evidence for the model card.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from binclf.spec import GateThresholds


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate."""

    name: str
    passed: bool
    value: float | None
    threshold: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _MissingEvidence(Exception):
    """Evidence a gate needs is absent or unusable; the message is the gate's reason."""


# A reading is (value, detail): value None means there is nothing to judge and the gate passes
# with `detail` as its reason; otherwise `detail` adds context (which slice, which feature).
Reading = tuple[float | None, str]


def evaluate_gates(evidence: Mapping[str, Any], thresholds: GateThresholds) -> list[GateResult]:
    """Evaluate every gate against `evidence`; one result per gate, in a fixed order.

    Evidence keys (values as produced by the evaluation modules; an Estimate is
    `{"value", "ci_low", "ci_high"}`, a plain number is accepted too):

    - `test_rows`: int, rows in the test set; `test_positives`: int, positive rows in it.
    - `test_metrics`: `{"roc_auc": Estimate, "pr_auc": Estimate, "ece_equal_mass": Estimate,
      ...}` (`binclf.stats.metrics.evaluate_predictions`). `max_ece` judges the ECE over
      equal-mass bins: with equal-width bins at a low prevalence nearly every row is in the
      first bin and the gate could barely fail.
    - `fairness`: `{attribute: fairness_report(...)}`; the gate reads
      `fairness[attribute]["disparities"]["equalized_odds_difference"]` and takes the worst
      attribute. `{}` (no sensitive attribute declared) passes; a declared attribute whose
      disparity could not be computed (null) fails.
    - `slices`: the rows of `slice_metrics(...)`; the gate takes the worst `recall` over rows of
      a kind in `thresholds.slice_recall_kinds` that are not `small` and have at least
      `min_slice_positives` positives. No such row passes (nothing reliable to judge).
    - `leakage`: `{"max_single_feature_auc": float, "feature": str (optional)}`, the best
      orientation-free ROC-AUC of any single feature; near 1 suggests label leakage.
    """
    if not isinstance(evidence, Mapping):
        raise TypeError(f"evidence must be a mapping, got {type(evidence).__name__}")
    t = thresholds
    gates: list[tuple[str, float, bool, Callable[[], Reading]]] = [
        ("min_test_rows", t.min_test_rows, True, lambda: (_number(evidence, "test_rows"), "")),
        (
            "min_test_positives",
            t.min_test_positives,
            True,
            lambda: (_number(evidence, "test_positives"), ""),
        ),
        ("min_roc_auc", t.min_roc_auc, True, lambda: (_test_metric(evidence, "roc_auc"), "")),
        ("min_pr_auc", t.min_pr_auc, True, lambda: (_test_metric(evidence, "pr_auc"), "")),
        (
            "max_ece",
            t.max_ece,
            False,
            lambda: (_test_metric(evidence, "ece_equal_mass"), "equal-mass bins"),
        ),
        (
            "max_fairness_disparity",
            t.max_fairness_disparity,
            False,
            lambda: _worst_disparity(evidence),
        ),
        ("min_slice_recall", t.min_slice_recall, True, lambda: _worst_slice_recall(evidence, t)),
        (
            "max_single_feature_auc",
            t.max_single_feature_auc,
            False,
            lambda: _single_feature_auc(evidence),
        ),
    ]
    return [_judge(name, threshold, at_least, read) for name, threshold, at_least, read in gates]


def _judge(name: str, threshold: float, at_least: bool, read: Callable[[], Reading]) -> GateResult:
    try:
        value, detail = read()
    except _MissingEvidence as missing:
        return GateResult(name, False, None, float(threshold), str(missing))
    if value is None:
        return GateResult(name, True, None, float(threshold), detail)
    passed = value >= threshold if at_least else value <= threshold
    relation = (">=" if passed else "<") if at_least else ("<=" if passed else ">")
    reason = f"{value:.4g} {relation} {threshold:.4g}" + (f" ({detail})" if detail else "")
    return GateResult(name, bool(passed), float(value), float(threshold), reason)


def _get(evidence: Mapping[str, Any], *keys: str) -> Any:
    node: Any = evidence
    for depth, key in enumerate(keys):
        if not isinstance(node, Mapping) or node.get(key) is None:
            raise _MissingEvidence("missing evidence: " + ".".join(keys[: depth + 1]))
        node = node[key]
    return node


def _as_number(raw: Any, key: str) -> float:
    """A number from a plain number or an Estimate's point value."""
    if isinstance(raw, Mapping):
        raw = raw.get("value")
        key += ".value"
    if raw is None:
        raise _MissingEvidence(f"missing evidence: {key}")
    if isinstance(raw, bool) or not isinstance(raw, int | float) or math.isnan(raw):
        raise _MissingEvidence(f"not a number: {key} = {raw!r}")
    return float(raw)


def _number(evidence: Mapping[str, Any], *keys: str) -> float:
    return _as_number(_get(evidence, *keys), ".".join(keys))


def _test_metric(evidence: Mapping[str, Any], metric: str) -> float:
    return _number(evidence, "test_metrics", metric)


def _worst_disparity(evidence: Mapping[str, Any]) -> Reading:
    fairness = _get(evidence, "fairness")
    if not isinstance(fairness, Mapping):
        raise _MissingEvidence("missing evidence: fairness (not a mapping of attributes)")
    if not fairness:
        return None, "no sensitive attribute declared"
    values = {
        attribute: _number(
            evidence, "fairness", attribute, "disparities", "equalized_odds_difference"
        )
        for attribute in fairness
    }
    worst = max(values, key=values.__getitem__)
    return values[worst], f"equalized-odds difference, worst attribute {worst}"


def _worst_slice_recall(evidence: Mapping[str, Any], thresholds: GateThresholds) -> Reading:
    rows = _get(evidence, "slices")
    if isinstance(rows, Mapping | str) or not isinstance(rows, Sequence):
        raise _MissingEvidence("missing evidence: slices (not a list of slice rows)")
    judged = {}
    for row in rows:
        if not isinstance(row, Mapping):
            raise _MissingEvidence(f"missing evidence: slices (row {row!r} is not a mapping)")
        if (
            row.get("kind") in thresholds.slice_recall_kinds
            and not row.get("small", True)
            and (row.get("positives") or 0) >= thresholds.min_slice_positives
            and row.get("recall") is not None
        ):
            label = f"{row.get('column')}={row.get('group')}"
            judged[label] = _as_number(row["recall"], f"slices[{label}].recall")
    if not judged:
        return None, "no slice large enough with enough positives to judge"
    worst = min(judged, key=judged.__getitem__)
    return judged[worst], f"worst slice {worst} of {len(judged)} judged"


def _single_feature_auc(evidence: Mapping[str, Any]) -> Reading:
    value = _number(evidence, "leakage", "max_single_feature_auc")
    feature = evidence["leakage"].get("feature")
    return value, f"feature {feature}" if feature else ""
