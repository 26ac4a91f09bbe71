"""The scoring bundle: everything needed to turn raw events into scores, as plain files.

Feature schema -> model -> prior correction -> calibration -> threshold. The bundle is written as
JSON plus the model's own files (LightGBM text or JSON coefficients); loading it runs no code
from the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import polars as pl

from binclf.train.features import FeatureSchema, to_model_frame
from binclf.train.models import BinaryModel, model_from_files
from binclf.train.resampling import apply_prior_shift

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = 1


class BundleError(ValueError):
    """Bundle files that are missing or do not fit together."""


class ProbabilityMap(Protocol):
    """A fitted calibration map, e.g. `binclf.calibration.Calibrator`."""

    def transform(self, p: np.ndarray) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ScoringBundle:
    """A trained model with the steps that make its output a decision."""

    schema: FeatureSchema
    model: BinaryModel
    prior_log_odds_shift: float
    calibrator: ProbabilityMap
    threshold: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise BundleError(f"threshold must be a probability in [0, 1], got {self.threshold}")
        if not np.isfinite(self.prior_log_odds_shift):
            raise BundleError(
                f"prior_log_odds_shift must be finite, got {self.prior_log_odds_shift}"
            )

    def raw_scores(self, frame: pl.DataFrame) -> np.ndarray:
        """The model's probabilities moved back to the true base rate (before calibration)."""
        raw = self.model.predict_raw(to_model_frame(frame, self.schema))
        return apply_prior_shift(raw, self.prior_log_odds_shift)

    def probabilities(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated P(y=1) per row."""
        return np.asarray(self.calibrator.transform(self.raw_scores(frame)), dtype=np.float64)

    def score(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Per row: `raw_score`, calibrated `probability`, `decision` (probability >= threshold).

        A day without rows has no scores (the models refuse an empty matrix).
        """
        if frame.height == 0:
            return pl.DataFrame(
                schema={"raw_score": pl.Float64, "probability": pl.Float64, "decision": pl.Boolean}
            )
        raw = self.raw_scores(frame)
        probability = np.asarray(self.calibrator.transform(raw), dtype=np.float64)
        return pl.DataFrame(
            {
                "raw_score": raw,
                "probability": probability,
                "decision": probability >= self.threshold,
            }
        )

    def to_files(self) -> dict[str, bytes]:
        """`bundle.json` plus the model's files."""
        model_files = self.model.to_files()
        if BUNDLE_FILE in model_files:
            raise BundleError(f"a model file may not be called {BUNDLE_FILE!r}")
        manifest = {
            "format": BUNDLE_FORMAT,
            "family": self.model.family,
            "model_files": sorted(model_files),
            "schema": self.schema.to_dict(),
            "prior_log_odds_shift": self.prior_log_odds_shift,
            "calibrator": self.calibrator.to_dict(),
            "threshold": self.threshold,
        }
        return {BUNDLE_FILE: json.dumps(manifest, indent=1).encode(), **model_files}

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> ScoringBundle:
        """The bundle back from `to_files` output (extra files are ignored)."""
        from binclf.train.calibration import Calibrator

        if BUNDLE_FILE not in files:
            raise BundleError(f"bundle files lack {BUNDLE_FILE!r}")
        manifest = json.loads(files[BUNDLE_FILE])
        if manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"unsupported bundle format {manifest.get('format')!r}")
        missing = [name for name in manifest["model_files"] if name not in files]
        if missing:
            raise BundleError(f"bundle files lack the model files {missing}")
        model_files = {name: files[name] for name in manifest["model_files"]}
        return cls(
            schema=FeatureSchema.from_dict(manifest["schema"]),
            model=model_from_files(manifest["family"], model_files),
            prior_log_odds_shift=float(manifest["prior_log_odds_shift"]),
            calibrator=Calibrator.from_dict(manifest["calibrator"]),
            threshold=float(manifest["threshold"]),
        )
