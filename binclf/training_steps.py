"""The steps of training a candidate, as plain functions over frames and JSON.

The training assets pass JSON between them; each step here takes those values and returns
JSON-ready results: model inputs from splits, a search result as JSON (model text included) and
back, calibration, threshold, the evaluation evidence, and the files of a model version.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from binclf.atomic import json_bytes, to_json_safe
from binclf.bundle import ScoringBundle
from binclf.calibration import Calibrator, choose_calibration
from binclf.card import build_card, render_card_markdown
from binclf.drift import ReferenceProfile
from binclf.evaluation import evaluate_candidate, explanations
from binclf.features import (
    FeatureSchema,
    check_trainable,
    infer_feature_schema,
    screen_features,
    single_feature_aucs,
    target_vector,
    to_model_frame,
)
from binclf.gates import GateResult
from binclf.models import BinaryModel, model_from_files
from binclf.plots import (
    plot_feature_importance,
    plot_precision_recall,
    plot_reliability,
    plot_roc,
    plot_score_distribution,
    png_markdown,
)
from binclf.registry import Registry
from binclf.search import SearchResult, SearchSettings, search_model
from binclf.serving import CARD_FILE, REFERENCE_PROFILE_FILE, REFERENCE_SAMPLE_FILE
from binclf.spec import DatasetSpec
from binclf.splits import SPLIT_COLUMN
from binclf.threshold import ThresholdPolicy, choose_threshold

SPLITS = ("train", "validation", "calibration", "test")
REFERENCE_SAMPLE_ROWS = 5_000
REFERENCE_PROFILE_ROWS = 1_000_000
EVIDENCE_FILE = "evidence.json"


@dataclass(frozen=True)
class ModelInputs:
    """The rows of some splits, and each of them as the model sees it, built when asked for.

    Building on demand keeps one pandas copy of one split in memory at a time, which matters at
    millions of rows.
    """

    spec: DatasetSpec
    schema: FeatureSchema
    exclusions: list[dict[str, Any]]
    frames: dict[str, pl.DataFrame]

    def features(self, split: str) -> pd.DataFrame:
        return to_model_frame(self.frames[split], self.schema)

    def labels(self, split: str) -> np.ndarray:
        return target_vector(self.frames[split], self.spec)

    def weights(self, split: str) -> np.ndarray | None:
        column = self.spec.weight_column
        return self.frames[split][column].cast(pl.Float64).to_numpy() if column else None


def split_frames(splits: pl.DataFrame, names: tuple[str, ...] = SPLITS) -> dict[str, pl.DataFrame]:
    """The rows of each named split (empty when it has none), copying only what is asked for."""
    unknown = [name for name in names if name not in SPLITS]
    if unknown:
        raise ValueError(f"unknown splits {unknown}; splits are {list(SPLITS)}")
    if len(names) == 1:
        return {names[0]: splits.filter(pl.col(SPLIT_COLUMN) == names[0])}
    parts = splits.partition_by(SPLIT_COLUMN, as_dict=True)  # one pass, less memory than filters
    return {name: parts.get((name,), splits.clear()) for name in names}


def model_inputs(
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    names: tuple[str, ...] = SPLITS,
    schema: FeatureSchema | None = None,
    min_positives: int = 10,
    leak_auc: float = 0.99,
) -> ModelInputs:
    """The named splits; without a schema, infer and screen the features on the training rows."""
    if schema is None and "train" not in names:
        raise ValueError("the feature schema is inferred on the training rows: include 'train'")
    frames = split_frames(splits, names)
    exclusions: list[dict[str, Any]] = []
    if schema is None:
        y_train = target_vector(frames["train"], spec)
        check_trainable(y_train, min_positives=min_positives)
        schema = infer_feature_schema(frames["train"], spec)
        schema, exclusions = screen_features(frames["train"], y_train, schema, leak_auc=leak_auc)
    return ModelInputs(spec=spec, schema=schema, exclusions=exclusions, frames=frames)


def search(
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    settings: SearchSettings,
    storage: str,
    study_name: str,
    min_positives: int = 10,
    leak_auc: float = 0.99,
) -> dict[str, Any]:
    """Screen the features, search on (train, validation), refit; the result as JSON."""
    inputs = model_inputs(
        splits, spec, names=("train", "validation"), min_positives=min_positives, leak_auc=leak_auc
    )
    train = inputs.features("train"), inputs.labels("train"), inputs.weights("train")
    valid = inputs.features("validation"), inputs.labels("validation"), inputs.weights("validation")
    schema, exclusions = inputs.schema, inputs.exclusions
    del inputs  # the polars copies of the splits are not needed once the model frames exist
    result = search_model(
        train[0],
        train[1],
        valid[0],
        valid[1],
        storage=storage,
        study_name=study_name,
        settings=settings,
        train_weight=train[2],
        valid_weight=valid[2],
    )
    return search_summary(result, schema, exclusions)


def data_version(frame: pl.DataFrame) -> str:
    """A short content hash of a frame: same rows, same version."""
    digest = hashlib.sha256()
    digest.update(str(frame.schema).encode())
    digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()[:12]


def search_summary(
    result: SearchResult, schema: FeatureSchema, exclusions: list[dict[str, Any]]
) -> dict[str, Any]:
    """A search result as JSON, with the winning model's files as text."""
    return to_json_safe(
        {
            "family": result.family,
            "params": result.params,
            "best_value": result.best_value,
            "objective": result.objective,
            "trials": {
                "complete": result.n_complete,
                "pruned": result.n_pruned,
                "failed": result.n_failed,
            },
            "history": result.history,
            "resampling": result.resampling,
            "prior_log_odds_shift": result.prior_log_odds_shift,
            "study_name": result.study_name,
            "refit_rows": result.refit_rows,
            "schema": schema.to_dict(),
            "exclusions": exclusions,
            "model_files": {k: v.decode() for k, v in result.model.to_files().items()},
        }
    )


def model_from_summary(summary: dict[str, Any]) -> BinaryModel:
    """The searched model back from its JSON summary."""
    files = {name: text.encode() for name, text in summary["model_files"].items()}
    return model_from_files(summary["family"], files)


def schema_from_summary(summary: dict[str, Any]) -> FeatureSchema:
    return FeatureSchema.from_dict(summary["schema"])


def build_bundle(
    search: dict[str, Any], calibration: dict[str, Any] | None, threshold: float
) -> ScoringBundle:
    """The scoring bundle of a candidate from its search, calibration and threshold."""
    return ScoringBundle(
        schema=schema_from_summary(search),
        model=model_from_summary(search),
        prior_log_odds_shift=float(search["prior_log_odds_shift"]),
        calibrator=Calibrator.from_dict(calibration["calibrator"])
        if calibration
        else Calibrator("none"),
        threshold=threshold,
    )


def split_summary(splits: pl.DataFrame, spec: DatasetSpec) -> dict[str, dict[str, Any]]:
    """Rows, prevalence and time range of each split."""
    summary: dict[str, dict[str, Any]] = {}
    for name in SPLITS:
        frame = splits.filter(pl.col(SPLIT_COLUMN) == name)
        y = target_vector(frame, spec) if frame.height else np.zeros(0)
        row: dict[str, Any] = {
            "rows": frame.height,
            "positives": int(y.sum()),
            "prevalence": float(y.mean()) if frame.height else None,
        }
        if spec.time_column and frame.height:
            row["start"] = frame[spec.time_column].min().isoformat()
            row["end"] = frame[spec.time_column].max().isoformat()
        summary[name] = row
    return summary


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


def label_cutoff(frame: pl.DataFrame, spec: DatasetSpec) -> str | None:
    """The newest label time (or event time) the training rows used, ISO formatted."""
    column = spec.label_time_column or spec.time_column
    if column is None or frame.height == 0 or frame[column].null_count() == frame.height:
        return None
    return frame[column].max().isoformat()


def study_name(spec: DatasetSpec, splits: pl.DataFrame, settings: dict[str, Any]) -> str:
    """Dataset, data version and code version: a rerun on the same inputs resumes the study."""
    code_version = package_version("binclf")
    code = hashlib.sha256(json_bytes({"version": code_version, **settings})).hexdigest()[:8]
    return f"{spec.name}-data{data_version(splits)}-code{code}"


def window_summary(
    frame: pl.DataFrame, spec: DatasetSpec, keys: list[str], cutoff: datetime | None
) -> dict[str, Any]:
    """Rows, positives and the time range of a training window."""
    y = target_vector(frame, spec) if frame.height else np.zeros(0)
    summary: dict[str, Any] = {
        "rows": frame.height,
        "positives": int(y.sum()),
        "prevalence": float(y.mean()) if frame.height else None,
        "partitions": f"{keys[0]} … {keys[-1]} ({len(keys)})",
        "cutoff": cutoff.isoformat() if cutoff else "none",
    }
    if spec.time_column and frame.height:
        summary["start"] = frame[spec.time_column].min().isoformat()
        summary["end"] = frame[spec.time_column].max().isoformat()
    return summary


def _scores(search: dict[str, Any], frame: pl.DataFrame) -> np.ndarray:
    """Prior-corrected model probabilities, before calibration."""
    return build_bundle(search, None, 0.5).raw_scores(frame)


def calibrate(
    search: dict[str, Any],
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    methods: tuple[str, ...],
    n_folds: int,
    seed: int,
) -> dict[str, Any]:
    """Choose and fit the calibration on the calibration rows, with a reliability plot."""
    inputs = model_inputs(splits, spec, names=("calibration",), schema=schema_from_summary(search))
    frame, y = inputs.frames["calibration"], inputs.labels("calibration")
    raw = _scores(search, frame)
    choice = choose_calibration(
        raw, y, methods=methods, n_folds=n_folds, seed=seed, weights=inputs.weights("calibration")
    )
    calibrated = choice.calibrator.transform(raw)
    plot = plot_reliability(y, {"before": raw, "after": calibrated}, title="Calibration rows")
    return to_json_safe({**choice.to_dict(), "plot": png_markdown(plot, "reliability")})


def threshold(
    search: dict[str, Any],
    calibration: dict[str, Any],
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    policy: str,
    target: float | None,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Choose the decision threshold on the calibration rows (never on test)."""
    inputs = model_inputs(splits, spec, names=("calibration",), schema=schema_from_summary(search))
    frame, y = inputs.frames["calibration"], inputs.labels("calibration")
    p = build_bundle(search, calibration, 0.5).probabilities(frame)
    choice = choose_threshold(
        p,
        y,
        policy=ThresholdPolicy(kind=policy, target=target),
        cost_fp=spec.costs.false_positive,
        cost_fn=spec.costs.false_negative,
        weights=inputs.weights("calibration"),
        n_boot=n_boot,
        seed=seed,
    )
    return to_json_safe(choice.to_dict())


def test_rows(splits: pl.DataFrame, spec: DatasetSpec) -> tuple[pl.DataFrame, np.ndarray]:
    """The test rows and their labels."""
    test = split_frames(splits, ("test",))["test"]
    return test, target_vector(test, spec)


def evaluate(
    search: dict[str, Any],
    calibration: dict[str, Any],
    threshold_choice: dict[str, Any],
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    n_boot: int,
    min_slice_size: int,
    explain_rows: int,
    seed: int,
) -> dict[str, Any]:
    """Evidence on the test rows: metrics, slices, fairness, explanations, leakage, plots."""
    schema = schema_from_summary(search)
    bundle = build_bundle(search, calibration, threshold_choice["value"])
    test = split_frames(splits, ("test",))["test"]
    y = target_vector(test, spec)
    raw = bundle.raw_scores(test)
    p = np.asarray(bundle.calibrator.transform(raw), dtype=np.float64)
    explained = explanations(
        bundle.model,
        to_model_frame(test.sample(min(explain_rows, test.height), seed=seed), schema),
        sample_rows=explain_rows,
        seed=seed,
    )
    evidence = evaluate_candidate(
        test,
        y,
        p,
        spec=spec,
        threshold=bundle.threshold,
        leakage=training_leakage(splits, spec, schema),
        min_slice_size=min_slice_size,
        n_boot=n_boot,
        seed=seed,
    )
    importance = {row["feature"]: row["importance"] for row in _importance_rows(explained)}
    plots = {
        "roc": plot_roc(y, {"test": p}),
        "precision_recall": plot_precision_recall(y, {"test": p}),
        "reliability": plot_reliability(y, {"uncalibrated": raw, "calibrated": p}),
        "scores": plot_score_distribution(y, p, threshold=bundle.threshold),
        "importance": plot_feature_importance(importance),
    }
    return to_json_safe(
        {
            **evidence,
            "explanations": explained,
            "top_features": importance,
            "plots": {name: png_markdown(png, name) for name, png in plots.items()},
        }
    )


def training_leakage(
    splits: pl.DataFrame, spec: DatasetSpec, schema: FeatureSchema
) -> dict[str, float]:
    """Each feature's single-feature ROC-AUC on the training rows (copying only those columns)."""
    train = (
        splits.lazy()
        .filter(pl.col(SPLIT_COLUMN) == "train")
        .select([*schema.columns, spec.target])
        .collect()
    )
    return single_feature_aucs(train, target_vector(train, spec), schema)


def _importance_rows(explained: dict[str, Any]) -> list[dict[str, Any]]:
    rows = explained.get("shap") or explained.get("coefficients") or []
    return sorted(rows, key=lambda r: -abs(r["importance"]))[:20]


def _png(markdown: str) -> bytes:
    import base64

    return base64.b64decode(markdown.split("base64,", 1)[1].rstrip(")"))


def register_candidate(
    registry: Registry,
    spec: DatasetSpec,
    *,
    search: dict[str, Any],
    calibration: dict[str, Any],
    threshold: dict[str, Any],
    evidence: dict[str, Any],
    splits: pl.DataFrame,
) -> dict[str, Any]:
    """Register the candidate as an immutable version with its card; returns id and card."""
    cutoff = label_cutoff(splits, spec)
    bundle = build_bundle(search, calibration, threshold["value"])
    train = split_frames(splits, ("train",))["train"]
    reference = reference_profile(bundle, train)
    plots = {name: _png(md) for name, md in evidence["plots"].items()}
    plots["calibration_rows"] = _png(calibration["plot"])
    core_evidence = {k: v for k, v in evidence.items() if k != "plots"}
    artifacts = bundle.to_files()

    def files_for(version: str) -> dict[str, bytes]:
        card = build_card(
            version=version,
            created_at=datetime.now().astimezone().isoformat(timespec="seconds"),
            dataset={"name": spec.name, "data_version": data_version(splits), "cutoff": cutoff},
            splits=split_summary(splits, spec),
            model={"family": search["family"], "parameters": search["params"]},
            search={
                "trials": search["trials"]["complete"],
                "pruned": search["trials"]["pruned"],
                "failed": search["trials"]["failed"],
                "best_value": search["best_value"],
                "objective": search["objective"],
                "study": search["study_name"],
                "excluded_features": search["exclusions"],
            },
            resampling={
                "method": search["resampling"],
                "prior_log_odds_shift": search["prior_log_odds_shift"],
            },
            calibration={k: calibration[k] for k in ("method", "before", "after", "cv_log_loss")},
            threshold={
                "policy": threshold["policy"],
                "value": threshold["value"],
                "expected_cost": threshold["expected_cost"],
                "expected_cost_ci": threshold["expected_cost_ci"],
            },
            test_metrics=evidence["test_metrics"],
            top_features=evidence["top_features"],
            fairness=evidence.get("fairness"),
            slices=evidence.get("slices"),
            artifacts={name: hashlib.sha256(data).hexdigest() for name, data in artifacts.items()},
        )
        markdown = render_card_markdown(card, images=evidence["plots"])
        return version_files(
            bundle,
            card=card,
            card_markdown=markdown,
            evidence=core_evidence,
            reference=reference,
            train=train,
            plots=plots,
        )

    metrics = {k: evidence["test_metrics"][k]["value"] for k in ("roc_auc", "pr_auc", "log_loss")}
    version = registry.register(
        spec.name, files_for, metadata={"family": search["family"], "metrics": metrics}
    )
    files = registry.open_files(spec.name, version)
    return {
        "version": version,
        "card": json.loads(files[CARD_FILE]),
        "card_markdown": files["card.md"].decode(),
    }


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
