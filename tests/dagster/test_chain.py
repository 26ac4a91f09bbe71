"""The plain chain trains the same version as the Dagster training job, byte for byte.

The chain gets the template's stored training window and the settings the Dagster configs of
`SMALL_TRAINING` resolve to, a fresh registry and a fresh optuna storage.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import jsonschema
from pipeline_support import DATASET, SMALL_TRAINING, TrainedTemplate

from assets.training_config import (
    CalibrationConfig,
    EvaluationConfig,
    SearchConfig,
    SplitConfig,
    ThresholdConfig,
)
from assets.typed_values import read_json_value
from binclf.chain import TrainingSettings, train_candidate
from binclf.evaluate.steps import Evaluation
from binclf.io.partition_store import PartitionStore
from binclf.register.loading import CARD_FILE
from binclf.register.registry import Registry
from binclf.train.models import LIGHTGBM_MODEL_FILE
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.threshold import ThresholdChoice

pytest_plugins = ["pipeline_support"]

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "model_card.schema.json"


def _config(asset: str) -> dict:
    return SMALL_TRAINING.get(asset, {}).get("config", {})


def test_the_chain_without_dagster_registers_the_same_version_files(
    trained_template: TrainedTemplate, tmp_path: Path
) -> None:
    search = SearchConfig(**_config("model_search"))
    settings = TrainingSettings(
        splits=SplitConfig(**_config("training_splits")).settings(),
        screening=search.screening(),
        search=search.settings(),
        calibration=CalibrationConfig(**_config("calibration")).settings(),
        threshold=ThresholdConfig(**_config("decision_threshold")).settings(),
        evaluation=EvaluationConfig(**_config("candidate_evaluation")).settings(),
    )
    window = PartitionStore(trained_template.root / "data").read("training_window")
    registry = Registry(tmp_path / "registry")
    steps: list[str] = []

    def timer(step: str) -> nullcontext[None]:
        steps.append(step)
        return nullcontext()

    trained = train_candidate(
        trained_template.spec,
        window,
        settings,
        registry,
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        timer=timer,
    )

    dagster_files = Registry(trained_template.root / "registry").open_files(DATASET, "v0001")
    chain_files = registry.open_files(DATASET, trained.registered.version)
    assert trained.registered.version == "v0001"
    assert chain_files[LIGHTGBM_MODEL_FILE] == dagster_files[LIGHTGBM_MODEL_FILE]
    assert chain_files["bundle.json"] == dagster_files["bundle.json"]
    assert chain_files["evidence.json"] == dagster_files["evidence.json"]
    assert {n for n in chain_files if n.startswith("plots/")} == {
        n for n in dagster_files if n.startswith("plots/")
    }
    assert trained.passed
    assert steps == [
        "training_splits",
        "model_search",
        "calibration",
        "decision_threshold",
        "candidate_evaluation",
        "model_candidate",
    ]


def test_step_results_are_stored_typed_with_their_plots_as_png_files(
    trained_template: TrainedTemplate,
) -> None:
    data = trained_template.root / "data"
    kinds = {
        "model_search": SearchOutcome,
        "calibration": CalibrationOutcome,
        "decision_threshold": ThresholdChoice,
        "candidate_evaluation": Evaluation,
    }
    values = {asset: read_json_value(data / asset / "data.json", data) for asset in kinds}
    for asset, kind in kinds.items():
        assert type(values[asset]) is kind
    assert "base64" not in (data / "candidate_evaluation" / "data.json").read_text()

    version = Registry(trained_template.root / "registry").open_files(DATASET, "v0001")
    evaluation, calibration = values["candidate_evaluation"], values["calibration"]
    assert set(evaluation.plots) == {
        "roc",
        "precision_recall",
        "reliability",
        "scores",
        "importance",
    }
    for name, png in {**evaluation.plots, **calibration.plots}.items():
        assert png.startswith(b"\x89PNG")
        assert version[f"plots/{name}.png"] == png
    stored = json.loads((data / "candidate_evaluation" / "data.json").read_text())
    (folder,) = {(data / path).parent for path in stored["plots"].values()}  # the run's folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.png" for n in evaluation.plots)
    model = values["model_search"].model()
    assert model.to_files()[LIGHTGBM_MODEL_FILE] == version[LIGHTGBM_MODEL_FILE]


def test_the_registered_card_validates_against_the_committed_schema(
    trained_template: TrainedTemplate,
) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    files = Registry(trained_template.root / "registry").open_files(DATASET, "v0001")
    jsonschema.validate(json.loads(files[CARD_FILE]), schema)
