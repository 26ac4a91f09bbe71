"""Registering a candidate as an immutable model version, and recording gate rejections."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from binclf.evaluate.card import build_card, render_card_markdown
from binclf.evaluate.steps import Evaluation
from binclf.io.atomic import json_bytes
from binclf.register.gates import GateResult
from binclf.register.loading import CARD_FILE, REFERENCE_PROFILE_FILE, REFERENCE_SAMPLE_FILE
from binclf.register.registry import Registry
from binclf.spec import DatasetSpec
from binclf.stats.profiles import ReferenceProfile
from binclf.train.bundle import ScoringBundle
from binclf.train.inputs import data_version, label_cutoff, split_frames, split_summary
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.steps import build_bundle
from binclf.train.threshold import ThresholdChoice

REFERENCE_SAMPLE_ROWS = 5_000


REFERENCE_PROFILE_ROWS = 1_000_000


EVIDENCE_FILE = "evidence.json"


def reference_profile(
    bundle: ScoringBundle, train: pl.DataFrame, *, seed: int = 0
) -> ReferenceProfile:
    """The drift reference: the training rows' features and the candidate's probabilities.

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

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "card": self.card, "card_markdown": self.card_markdown}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisteredCandidate:
        return cls(data["version"], dict(data["card"]), data["card_markdown"])


def register_candidate(
    registry: Registry,
    spec: DatasetSpec,
    *,
    search: SearchOutcome,
    calibration: CalibrationOutcome,
    threshold: ThresholdChoice,
    evaluation: Evaluation,
    splits: pl.DataFrame,
) -> RegisteredCandidate:
    """Register the candidate as an immutable version with its card."""
    cutoff = label_cutoff(splits, spec)
    bundle = build_bundle(search, calibration, threshold.value)
    train = split_frames(splits, ("train",))["train"]
    reference = reference_profile(bundle, train)
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
                "expected_cost": threshold.expected_cost,
                "expected_cost_ci": list(threshold.expected_cost_ci),
            },
            test_metrics=evidence["test_metrics"],
            top_features=evidence["top_features"],
            fairness=evidence.get("fairness"),
            slices=evidence.get("slices"),
            artifacts={name: hashlib.sha256(data).hexdigest() for name, data in artifacts.items()},
        )
        images = {name: f"![{name}](plots/{name}.png)" for name in evaluation.plots}
        return version_files(
            bundle,
            card=card,
            card_markdown=render_card_markdown(card, images=images),
            evidence=evidence,
            reference=reference,
            train=train,
            plots=plots,
        )

    metrics = {k: evidence["test_metrics"][k]["value"] for k in ("roc_auc", "pr_auc", "log_loss")}
    version = registry.register(
        spec.name, files_for, metadata={"family": search.family, "metrics": metrics}
    )
    files = registry.open_files(spec.name, version)
    return RegisteredCandidate(version, json.loads(files[CARD_FILE]), files["card.md"].decode())


def record_gate_rejection(
    registry: Registry, spec: DatasetSpec, version: str, gates: list[GateResult]
) -> dict[str, Any]:
    """A failed gate is a decision too: record the rejection with every gate's evidence."""
    record = {
        "decision": "reject",
        "promote": False,
        "reason_codes": [f"GATE_FAILED:{g.name}" for g in gates if not g.passed],
        "gates": [g.to_dict() for g in gates],
        "version": version,
    }
    registry.record_decision(spec.name, version, record)
    return record


def stored_evidence(registry: Registry, spec: DatasetSpec, version: str) -> dict[str, Any]:
    """The evidence stored with a version, after its checksums were verified."""
    return json.loads(registry.open_files(spec.name, version)[EVIDENCE_FILE])
