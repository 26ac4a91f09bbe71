"""What the training assets show in the UI: tables, plots and the model card."""

from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, Output

from binclf.chain import DecisionOutcome
from binclf.evaluate.card import card_headline
from binclf.evaluate.steps import Evaluation
from binclf.io.atomic import to_json_safe
from binclf.register.candidate import RegisteredCandidate
from binclf.register.gates import GateResult
from binclf.stats.plots import png_markdown
from binclf.stats.summaries import markdown_table
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.threshold import ThresholdChoice


def _float(value: Any) -> MetadataValue:
    return MetadataValue.float(float(value)) if value is not None else MetadataValue.text("-")


def window_metadata(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "rows": MetadataValue.int(summary["rows"]),
        "positives": MetadataValue.int(summary["positives"]),
        "prevalence": _float(summary["prevalence"]),
        **{k: str(v) for k, v in summary.items() if k in ("partitions", "cutoff", "start", "end")},
    }


def splits_metadata(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rows = [{"split": name, **values} for name, values in summary.items()]
    return {"splits": MetadataValue.md(markdown_table(rows))}


def search_metadata(outcome: SearchOutcome) -> dict[str, Any]:
    history = [
        {k: row.get(k) for k in ("number", "state", "family", "value", "rows", "duration_seconds")}
        for row in outcome.history
    ]
    return {
        "family": outcome.family,
        "best_value": _float(outcome.best_value),
        "objective": outcome.objective,
        "trials_complete": MetadataValue.int(outcome.trials.complete),
        "trials_pruned": MetadataValue.int(outcome.trials.pruned),
        "seconds_per_trial": MetadataValue.json(outcome.seconds_per_trial),
        "fidelity_rows": MetadataValue.int(outcome.fidelity_rows or 0),
        "rounds_rows": MetadataValue.int(outcome.rounds_rows or 0),
        "rounds_chosen_on": outcome.rounds_chosen_on or "not boosted",
        "ensemble_members": MetadataValue.json(outcome.ensemble_members),
        "study": outcome.study_name,
        "wall_seconds": _float(outcome.wall_seconds),
        "excluded_features": MetadataValue.md(markdown_table(outcome.exclusions)),
        "params": MetadataValue.json(outcome.params),
        "trials": MetadataValue.md(markdown_table(history[-50:])),
    }


def _plots(plots: Mapping[str, bytes]) -> dict[str, MetadataValue]:
    """Each plot embedded, so the UI shows it; the stored PNG files are linked by the IO manager."""
    return {
        f"plot_{name}": MetadataValue.md(png_markdown(png, name)) for name, png in plots.items()
    }


def calibration_metadata(outcome: CalibrationOutcome) -> dict[str, Any]:
    choice = outcome.choice
    rows = [
        {"when": when, **values}
        for when, values in (("before", choice.before), ("after", choice.after))
        if values
    ]
    return {
        "method": choice.method,
        "cv_log_loss": MetadataValue.json(to_json_safe(choice.cv_log_loss)),
        "before_after": MetadataValue.md(markdown_table(rows)),
        **_plots(outcome.plots),
    }


def threshold_metadata(choice: ThresholdChoice) -> dict[str, Any]:
    """The threshold and its figures on the calibration rows' out-of-fold probabilities (the
    rows it was chosen on: optimistic; the test rows' cost is on `candidate_evaluation`)."""
    low, high = choice.expected_cost_ci
    return {
        "threshold": _float(choice.value),
        "policy": choice.applied_kind,
        "expected_cost_per_row": _float(choice.expected_cost),
        "expected_cost_ci": f"[{low:.4g}, {high:.4g}]",
        "measured_on": "calibration rows, out-of-fold probabilities (optimistic)",
        "precision": _float(choice.precision),
        "recall": _float(choice.recall),
    }


def evaluation_metadata(evaluation: Evaluation) -> dict[str, Any]:
    evidence = evaluation.evidence
    metrics = [
        {"metric": name, **estimate}
        for name, estimate in evidence["test_metrics"].items()
        if isinstance(estimate, dict) and "value" in estimate
    ]
    slices = [
        {
            "kind": row["kind"],
            "column": row["column"],
            "group": row["group"],
            "rows": row["rows"],
            "small": row["small"],
            "recall": (row.get("recall") or {}).get("value"),
            "precision": (row.get("precision") or {}).get("value"),
        }
        for row in evidence["slices"]
    ]
    fairness = [
        {"attribute": name, **{k: (v or {}).get("value") for k, v in report["disparities"].items()}}
        for name, report in evidence["fairness"].items()
    ]
    return {
        **_metric_floats(evidence["test_metrics"]),
        "test_metrics": MetadataValue.md(markdown_table(metrics)),
        "slices": MetadataValue.md(markdown_table(slices)),
        "fairness": MetadataValue.md(markdown_table(fairness)),
        "leakage": MetadataValue.json(evidence["leakage"]),
        **_plots(evaluation.plots),
    }


def gate_check_results(
    gates: list[GateResult], checks: dict[str, tuple[str, ...]]
) -> Iterator[AssetCheckResult]:
    """One named, blocking check per gate group, with its evidence as metadata."""
    by_name = {g.name: g for g in gates}
    for check, names in checks.items():
        results = [by_name[n] for n in names]
        yield AssetCheckResult(
            check_name=check,
            passed=all(g.passed for g in results),
            severity=AssetCheckSeverity.ERROR,
            description="; ".join(g.reason for g in results if g.reason) or None,
            metadata={
                **{f"{g.name}_value": _float(g.value) for g in results},
                **{f"{g.name}_threshold": _float(g.threshold) for g in results},
            },
        )


def _metric_floats(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, MetadataValue]:
    """Each test metric's point value as a float, so Dagster plots it across versions."""
    return {
        f"{prefix}{name}": _float(estimate["value"])
        for name, estimate in metrics.items()
        if isinstance(estimate, Mapping) and isinstance(estimate.get("value"), int | float)
    }


def candidate_output(registered: RegisteredCandidate, gates: list[GateResult]) -> Output:
    """The version with its card; a gate-failed one says `rejected` and shows the rejection."""
    card = registered.card
    failed = [g for g in gates if not g.passed]
    metadata: dict[str, Any] = {
        "version": registered.version,
        "status": "rejected" if failed else "candidate",
        "unchanged": MetadataValue.bool(registered.unchanged),
        "headline": card_headline(card),
        **_metric_floats(card["test_metrics"], prefix="test_"),
        "threshold": _float(card["threshold"]["value"]),
    }
    if failed:
        metadata["rejection"] = MetadataValue.md(
            f"**REJECT {registered.version}** — gates failed: "
            + ", ".join(g.name for g in failed)
            + "\n\n"
            + markdown_table(
                [
                    {
                        "gate": g.name,
                        "passed": g.passed,
                        "value": g.value,
                        "threshold": g.threshold,
                        "reason": g.reason,
                    }
                    for g in gates
                ]
            )
        )
    metadata["card_json"] = MetadataValue.json(card)
    metadata["card"] = MetadataValue.md(registered.card_markdown)
    return Output(registered, metadata=metadata)


def decision_metadata(outcome: DecisionOutcome) -> dict[str, Any]:
    """The decision's headline, both models' values, the paired difference and their curves."""
    record = outcome.record
    comparison = record.get("comparison") or {}
    decision = record.get("decision", "promote" if record["promote"] else "reject")
    return {
        "headline": MetadataValue.text(record.get("headline", "")),
        "decision": decision if record["promote"] or decision == "unchanged" else "reject",
        "version": record["version"],
        "champion_before": str(record.get("champion_before")),
        "reason_codes": ", ".join(record["reason_codes"]),
        "metric": str(record.get("metric", "-")),
        "challenger_value": _float(record.get("challenger_value")),
        "champion_value": _float(record.get("champion_value")),
        "difference": _float(comparison.get("value")),
        "difference_ci_low": _float(comparison.get("ci_low")),
        "difference_ci_high": _float(comparison.get("ci_high")),
        "margin": _float(record.get("margin")),
        "test_rows": MetadataValue.int(int(record.get("test_rows") or 0)),
        **{
            f"plot_{name}": MetadataValue.md(png_markdown(png, name))
            for name, png in outcome.plots.items()
        },
        "decision_json": MetadataValue.json(record),
    }
