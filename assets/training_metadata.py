"""What the training assets show in the UI: tables, plots and the model card."""

from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, Output

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
    low, high = choice.expected_cost_ci
    return {
        "threshold": _float(choice.value),
        "policy": choice.applied_kind,
        "expected_cost_per_row": _float(choice.expected_cost),
        "expected_cost_ci": f"[{low:.4g}, {high:.4g}]",
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


def candidate_output(registered: RegisteredCandidate) -> Output:
    card = registered.card
    return Output(
        registered,
        metadata={
            "version": registered.version,
            "unchanged": MetadataValue.bool(registered.unchanged),
            "headline": card_headline(card),
            "card_json": MetadataValue.json(card),
            "card": MetadataValue.md(registered.card_markdown),
        },
    )


def decision_metadata(record: dict[str, Any]) -> dict[str, Any]:
    comparison = record.get("comparison") or {}
    return {
        "decision": "promote" if record["promote"] else "reject",
        "version": record["version"],
        "champion_before": str(record.get("champion_before")),
        "reason_codes": ", ".join(record["reason_codes"]),
        "difference": _float(comparison.get("value")),
        "difference_ci": f"[{comparison.get('ci_low')}, {comparison.get('ci_high')}]",
        "decision_json": MetadataValue.json(record),
    }
