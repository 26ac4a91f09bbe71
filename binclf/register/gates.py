"""Quality gates a challenger model must pass before it can be promoted.

Each gate compares one number from the evaluation evidence with a threshold. Gates fail closed:
evidence that is absent, null or not a number fails its gate with the reason
"missing evidence: <key>" (or "not a number: <key>"), so a broken upstream step can never
promote a model by omission.

By default gates use point values (`gates.use_interval: false`): the thresholds are quality bars
people set by reading point metrics, and the `min_test_rows` / `min_test_positives` gates
(500 / 30) refuse evidence too thin to judge. With `use_interval: true` each metric gate judges
the pessimistic end of its 95 % interval (the lower bound against a minimum, the upper bound
against a maximum), so a model on 600 test rows must clear the bar by its uncertainty; the
volume minimums then fall to floors small data can meet (100 / 10).

Fairness and slice gates judge only groups large enough (the size rule is in the evidence and
in each reason); groups too small are listed as not judged. When no group could be judged,
`gates.when_nothing_judged` decides: "warn" (default) passes with the reason "not judged: ...",
"fail" fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from binclf.spec import GateThresholds


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate; `judged` is false when there was nothing to judge."""

    name: str
    passed: bool
    value: float | None
    threshold: float
    reason: str
    judged: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _MissingEvidence(Exception):
    """Evidence a gate needs is absent or unusable; the message is the gate's reason."""


# A reading is (value, detail): value None means there is nothing to judge and `detail` says
# why; otherwise `detail` adds context (which slice, which feature, which bound).
Reading = tuple[float | None, str]
# Readings with nothing to judge that are not covered by `when_nothing_judged`.
_NOTHING_DECLARED = "no sensitive attribute declared"
_BOUND_WORDS = {"ci_low": "lower bound", "ci_high": "upper bound"}


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
      attribute. `{}` (no sensitive attribute declared) passes. An attribute whose report has
      fewer than two `compared_groups` (groups too small, see its `size_rule`) is not judged;
      any other null disparity fails.
    - `slices`: the rows of `slice_metrics(...)`; the gate takes the worst `recall` over rows of
      a kind in `thresholds.slice_recall_kinds` that are not `small` and have at least
      `min_slice_positives` positives.
    With nothing judged, a fairness or slice gate follows `thresholds.when_nothing_judged`.
    - `leakage`: `{"max_single_feature_auc": float, "feature": str (optional)}`, the best
      orientation-free ROC-AUC of any single feature; near 1 suggests label leakage.
    """
    if not isinstance(evidence, Mapping):
        raise TypeError(f"evidence must be a mapping, got {type(evidence).__name__}")
    t = thresholds
    low, high = ("ci_low", "ci_high") if t.use_interval else ("value", "value")

    def metric(name: str, bound: str) -> Callable[[], Reading]:
        return lambda: (
            _number(evidence, "test_metrics", name, bound=bound),
            _BOUND_WORDS.get(bound, ""),
        )

    gates: list[tuple[str, float, bool, Callable[[], Reading]]] = [
        ("min_test_rows", t.test_rows_minimum, True, lambda: (_number(evidence, "test_rows"), "")),
        (
            "min_test_positives",
            t.test_positives_minimum,
            True,
            lambda: (_number(evidence, "test_positives"), ""),
        ),
        ("min_roc_auc", t.min_roc_auc, True, metric("roc_auc", low)),
        ("min_pr_auc", t.min_pr_auc, True, metric("pr_auc", low)),
        ("max_ece", t.max_ece, False, metric("ece_equal_mass", high)),
        (
            "max_fairness_disparity",
            t.max_fairness_disparity,
            False,
            lambda: _worst_disparity(evidence, high),
        ),
        (
            "min_slice_recall",
            t.min_slice_recall,
            True,
            lambda: _worst_slice_recall(evidence, t, low),
        ),
        (
            "max_single_feature_auc",
            t.max_single_feature_auc,
            False,
            lambda: _single_feature_auc(evidence),
        ),
    ]
    return [
        _judge(name, threshold, at_least, read, fail_unjudged=t.when_nothing_judged == "fail")
        for name, threshold, at_least, read in gates
    ]


def _judge(
    name: str,
    threshold: float,
    at_least: bool,
    read: Callable[[], Reading],
    *,
    fail_unjudged: bool,
) -> GateResult:
    try:
        value, detail = read()
    except _MissingEvidence as missing:
        return GateResult(name, False, None, float(threshold), str(missing))
    if value is None:
        if detail == _NOTHING_DECLARED:
            return GateResult(name, True, None, float(threshold), detail)
        reason = f"not judged: {detail}"
        return GateResult(name, not fail_unjudged, None, float(threshold), reason, judged=False)
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


def _as_number(raw: Any, key: str, *, bound: str = "value") -> float:
    """A number from a plain number or an Estimate's point value (or `bound`)."""
    if isinstance(raw, Mapping):
        raw = raw.get(bound)
        key += f".{bound}"
    if raw is None:
        raise _MissingEvidence(f"missing evidence: {key}")
    if isinstance(raw, bool) or not isinstance(raw, int | float) or math.isnan(raw):
        raise _MissingEvidence(f"not a number: {key} = {raw!r}")
    return float(raw)


def _number(evidence: Mapping[str, Any], *keys: str, bound: str = "value") -> float:
    return _as_number(_get(evidence, *keys), ".".join(keys), bound=bound)


def _worst_disparity(evidence: Mapping[str, Any], bound: str) -> Reading:
    fairness = _get(evidence, "fairness")
    if not isinstance(fairness, Mapping):
        raise _MissingEvidence("missing evidence: fairness (not a mapping of attributes)")
    if not fairness:
        return None, _NOTHING_DECLARED
    values, not_judged = {}, []
    for attribute, report in fairness.items():
        if _too_few_groups(report):
            not_judged.append(f"{attribute} ({report.get('size_rule') or _size_rule(report)})")
            continue
        values[attribute] = _number(
            evidence, "fairness", attribute, "disparities", "equalized_odds_difference", bound=bound
        )
    skipped = f"; not judged: {', '.join(not_judged)}" if not_judged else ""
    if not values:
        return None, "fewer than two comparable groups in " + ", ".join(not_judged)
    worst = max(values, key=values.__getitem__)
    words = f", {_BOUND_WORDS[bound]}" if bound in _BOUND_WORDS else ""
    return values[worst], f"equalized-odds difference{words}, worst attribute {worst}{skipped}"


def _too_few_groups(report: Any) -> bool:
    """The report says its disparities are null because fewer than two groups were comparable."""
    if not isinstance(report, Mapping):
        return False
    compared = report.get("compared_groups")
    disparities = report.get("disparities")
    return (
        isinstance(compared, Sequence)
        and len(compared) < 2
        and isinstance(disparities, Mapping)
        and disparities.get("equalized_odds_difference") is None
    )


def _size_rule(report: Mapping[str, Any]) -> str:
    return f"groups need {report.get('min_group_size')} rows and both classes"


def _worst_slice_recall(
    evidence: Mapping[str, Any], thresholds: GateThresholds, bound: str
) -> Reading:
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
            judged[label] = _as_number(row["recall"], f"slices[{label}].recall", bound=bound)
    rule = (
        "a slice is judged with at least the evaluation's min_slice_size rows and "
        f"{thresholds.min_slice_positives} positives"
    )
    if not judged:
        return None, f"no slice large enough to judge ({rule})"
    worst = min(judged, key=judged.__getitem__)
    words = f", {_BOUND_WORDS[bound]}" if bound in _BOUND_WORDS else ""
    return judged[worst], f"worst slice {worst} of {len(judged)} judged{words}"


def _single_feature_auc(evidence: Mapping[str, Any]) -> Reading:
    value = _number(evidence, "leakage", "max_single_feature_auc")
    feature = evidence["leakage"].get("feature")
    return value, f"feature {feature}" if feature else ""
