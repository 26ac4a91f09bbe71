"""Registering a candidate as an immutable model version, and recording gate rejections."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version as package_version
from typing import Any

import polars as pl

from binclf.evaluate.card import build_card, render_card_markdown
from binclf.evaluate.steps import Evaluation
from binclf.io.atomic import json_bytes
from binclf.register.gates import GateResult
from binclf.register.loading import CARD_FILE, REFERENCE_PROFILE_FILE, REFERENCE_SAMPLE_FILE
from binclf.register.registry import Registry
from binclf.register.unseen_rows import trained_rows_file
from binclf.spec import DatasetSpec
from binclf.stats.profiles import ReferenceProfile
from binclf.train.bundle import ScoringBundle
from binclf.train.inputs import (
    data_version,
    drift_reference_rows,
    label_cutoff,
    split_summary,
)
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.steps import build_bundle
from binclf.train.threshold import ThresholdChoice

REFERENCE_SAMPLE_ROWS = 5_000


REFERENCE_PROFILE_ROWS = 1_000_000


EVIDENCE_FILE = "evidence.json"


def reference_profile(
    bundle: ScoringBundle, train: pl.DataFrame, *, seed: int = 0
) -> ReferenceProfile:
    """The drift reference: the reference rows' features and the candidate's probabilities.

    Beyond REFERENCE_PROFILE_ROWS a seeded sample stands for the rows: its deciles and shares
    differ from the full set's by well under the drift tests' resolution.
    """
    if train.height > REFERENCE_PROFILE_ROWS:
        train = train.sample(REFERENCE_PROFILE_ROWS, seed=seed)
    scored = train.with_columns(pl.Series("probability", bundle.probabilities(train)))
    return ReferenceProfile.from_frame(
        scored,
        numeric=list(bundle.schema.numeric),
        categorical=list(bundle.schema.categorical),
        score_column="probability",
    )


def version_files(
    bundle: ScoringBundle,
    *,
    card: dict[str, Any],
    card_markdown: str,
    evidence: dict[str, Any],
    reference: ReferenceProfile,
    train: pl.DataFrame,
    plots: dict[str, bytes],
    seed: int = 0,
) -> dict[str, bytes]:
    """Every file of a model version; none of them is executable."""
    sample = train.select(bundle.schema.columns).sample(
        min(REFERENCE_SAMPLE_ROWS, train.height), seed=seed
    )
    buffer = io.BytesIO()
    sample.write_parquet(buffer)
    return {
        **bundle.to_files(),
        CARD_FILE: json_bytes(card),
        "card.md": card_markdown.encode(),
        EVIDENCE_FILE: json_bytes(evidence),
        REFERENCE_PROFILE_FILE: json_bytes(reference.to_dict()),
        REFERENCE_SAMPLE_FILE: buffer.getvalue(),
        **{f"plots/{name}.png": png for name, png in plots.items()},
    }


@dataclass(frozen=True)
class RegisteredCandidate:
    """A registered version: its id, its card and the card rendered as Markdown."""

    version: str
    card: dict[str, Any]
    card_markdown: str
    unchanged: bool = False  # the same inputs were registered before as `version`

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "card": self.card,
            "card_markdown": self.card_markdown,
            "unchanged": self.unchanged,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisteredCandidate:
        return cls(
            data["version"],
            dict(data["card"]),
            data["card_markdown"],
            bool(data.get("unchanged", False)),
        )


def candidate_fingerprint(
    bundle_files: Mapping[str, bytes], splits: pl.DataFrame, spec: DatasetSpec, study: str
) -> str:
    """What makes a candidate the same one: its data, the dataset spec (gates, costs, ...), the
    search's study (its definition and settings), the code version and its scoring files.

    Same rows, same code and same settings give byte-identical model files (searches are
    seeded and resume their study), so a retrain on unchanged inputs finds its earlier version.
    """
    digest = hashlib.sha256()
    digest.update(f"binclf {package_version('binclf')}\ndata {data_version(splits)}\n".encode())
    digest.update(spec.model_dump_json().encode() + b"\0" + study.encode())
    for name in sorted(bundle_files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(bundle_files[name]).digest())
    return digest.hexdigest()


def costs_on_card(spec: DatasetSpec) -> dict[str, Any]:
    """The error costs the threshold used, and whether the spec stated them."""
    costs: dict[str, Any] = {
        "false_positive": spec.costs.false_positive,
        "false_negative": spec.costs.false_negative,
        "stated": spec.costs_stated,
    }
    if not spec.costs_stated:
        costs["note"] = "no costs were given: the threshold minimizes the error rate (1:1)"
    return costs


def threshold_cost_on_card(
    threshold: ThresholdChoice, evidence: Mapping[str, Any]
) -> dict[str, Any]:
    """The expected cost per row on the test rows, a forecast for new data; the cost on the
    calibration rows the threshold was chosen on is optimistic and only shown beside it."""
    on_calibration = {
        "value": threshold.expected_cost,
        "ci_low": threshold.expected_cost_ci[0],
        "ci_high": threshold.expected_cost_ci[1],
    }
    on_test = evidence["test_metrics"].get("expected_cost")
    if on_test is None:  # evidence from before the test rows reported a cost
        return {"expected_cost": on_calibration, "expected_cost_rows": "calibration"}
    return {
        "expected_cost": on_test,
        "expected_cost_rows": "test",
        "chosen_on": "out-of-fold calibrated probabilities of the calibration rows",
        "calibration_rows_expected_cost": on_calibration,
    }


def register_candidate(
    registry: Registry,
    spec: DatasetSpec,
    *,
    search: SearchOutcome,
    calibration: CalibrationOutcome,
    threshold: ThresholdChoice,
    evaluation: Evaluation,
    splits: pl.DataFrame,
    decision: Mapping[str, Any] | None = None,
) -> RegisteredCandidate:
    """Register the candidate as an immutable version with its card (and `decision`, e.g. a gate
    rejection, in the same registry change); unchanged inputs return the earlier version."""
    cutoff = label_cutoff(splits, spec)
    bundle = build_bundle(search, calibration, threshold.value)
    reference_rows = drift_reference_rows(splits, spec)
    reference = reference_profile(bundle, reference_rows)
    trained_rows = trained_rows_file(splits, spec)
    plots = {**evaluation.plots, **calibration.plots}
    evidence = evaluation.evidence
    artifacts = bundle.to_files()
    choice = calibration.choice

    def files_for(version: str) -> dict[str, bytes]:
        card = build_card(
            version=version,
            created_at=datetime.now().astimezone().isoformat(timespec="seconds"),
            dataset={"name": spec.name, "data_version": data_version(splits), "cutoff": cutoff},
            splits=split_summary(splits, spec),
            model={"family": search.family, "parameters": search.params},
            search={
                "trials": search.trials.complete,
                "pruned": search.trials.pruned,
                "failed": search.trials.failed,
                "best_value": search.best_value,
                "objective": search.objective,
                "study": search.study_name,
                "excluded_features": search.exclusions,
                **search.search_summary(),
            },
            resampling={
                "method": search.resampling,
                "prior_log_odds_shift": search.prior_log_odds_shift,
            },
            calibration={
                "method": choice.method,
                "before": choice.before,
                "after": choice.after,
                "cv_log_loss": choice.cv_log_loss,
            },
            threshold={
                "policy": threshold.policy.model_dump(),
                "value": threshold.value,
                **threshold_cost_on_card(threshold, evidence),
                "costs": costs_on_card(spec),
            },
            test_metrics=evidence["test_metrics"],
            top_features=evidence["top_features"],
            fairness=evidence.get("fairness"),
            slices=evidence.get("slices"),
            artifacts={name: hashlib.sha256(data).hexdigest() for name, data in artifacts.items()},
        )
        images = {name: f"![{name}](plots/{name}.png)" for name in evaluation.plots}
        files = version_files(
            bundle,
            card=card,
            card_markdown=render_card_markdown(card, images=images),
            evidence=evidence,
            reference=reference,
            train=reference_rows,
            plots=plots,
        )
        return {**files, **trained_rows}

    metrics = {k: evidence["test_metrics"][k]["value"] for k in ("roc_auc", "pr_auc", "log_loss")}
    fingerprint = candidate_fingerprint(artifacts, splits, spec, search.study_name)
    registration = registry.register_once(
        spec.name,
        files_for,
        metadata={"family": search.family, "metrics": metrics},
        fingerprint=fingerprint,
        decision=decision,
    )
    version = registration.version
    if not registration.created:
        registry.record_unchanged(spec.name, version, fingerprint=fingerprint)
    files = registry.open_files(spec.name, version, names=[CARD_FILE, "card.md"])
    return RegisteredCandidate(
        version,
        json.loads(files[CARD_FILE]),
        files["card.md"].decode(),
        unchanged=not registration.created,
    )


def gate_rejection(gates: list[GateResult]) -> dict[str, Any] | None:
    """A failed gate is a decision too: the rejection with every gate's evidence (None if all
    passed). It is registered with the version, in one registry change."""
    if all(g.passed for g in gates):
        return None
    return {
        "decision": "reject",
        "promote": False,
        "reason_codes": [f"GATE_FAILED:{g.name}" for g in gates if not g.passed],
        "gates": [g.to_dict() for g in gates],
    }


def stored_evidence(registry: Registry, spec: DatasetSpec, version: str) -> dict[str, Any]:
    """The evidence stored with a version, after its checksums were verified."""
    return json.loads(registry.open_files(spec.name, version)[EVIDENCE_FILE])
