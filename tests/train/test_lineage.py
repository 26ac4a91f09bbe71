"""Each training step refuses results made from other training splits than the ones it is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from binclf import chain
from binclf.evaluate import steps as evaluation_steps
from binclf.evaluate.steps import Evaluation, EvaluationSettings
from binclf.spec import spec_from_dict
from binclf.train import steps
from binclf.train.inputs import data_version
from binclf.train.lineage import InputsMismatchError, require_same_data
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.search import SearchSettings
from binclf.train.settings import CalibrationSettings, ThresholdSettings
from binclf.train.splits import SPLIT_COLUMN
from binclf.train.threshold import ThresholdChoice

SPEC = spec_from_dict(
    {
        "name": "loans",
        "source": {"kind": "parquet", "path": "loans.parquet"},
        "target": "defaulted",
        "positive": True,
    }
)
SEARCH = SearchSettings(
    n_trials=2,
    timeout_seconds=None,
    families=("logistic",),
    num_threads=1,
    ensemble=False,
)


def split_rows(n: int = 1_600, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.normal(size=n)
    return pl.DataFrame(
        {
            "defaulted": rng.random(n) < 1 / (1 + np.exp(1 - 2 * amount)),
            "amount": amount,
            "purpose": rng.choice(["car", "home", "study"], n),
            SPLIT_COLUMN: np.resize(["train", "validation", "calibration", "test"], n),
        }
    )


def test_require_same_data_names_the_step_and_each_result_made_from_other_splits() -> None:
    require_same_data("calibration", "abc", {"model_search": "abc"})
    with pytest.raises(InputsMismatchError) as raised:
        require_same_data("evaluation", "abc", {"model_search": "abc", "calibration": "def"})
    message = str(raised.value)
    assert message.startswith("evaluation: the training splits have data version abc")
    assert "calibration was made from def" in message and "model_search" not in message
    with pytest.raises(InputsMismatchError, match="splits of unrecorded version"):
        require_same_data("decision_threshold", "abc", {"calibration": ""})


def test_every_step_refuses_results_of_other_splits_and_carries_its_own(tmp_path: Path) -> None:
    ours, theirs = split_rows(seed=0), split_rows(seed=1)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    search = steps.search(
        ours, SPEC, settings=SEARCH, storage=storage, study_name="ours", screening=None
    )
    assert search.data_version == data_version(ours) != data_version(theirs)

    with pytest.raises(InputsMismatchError, match=r"calibration: .* model_search was made from"):
        steps.calibrate(search, theirs, SPEC, settings=CalibrationSettings(n_folds=3))
    calibration = steps.calibrate(search, ours, SPEC, settings=CalibrationSettings(n_folds=3))
    assert calibration.data_version == search.data_version

    with pytest.raises(InputsMismatchError, match="decision_threshold: "):
        steps.threshold(search, calibration, theirs, SPEC, settings=ThresholdSettings(n_boot=20))
    threshold = steps.threshold(
        search, calibration, ours, SPEC, settings=ThresholdSettings(n_boot=20)
    )
    assert threshold.data_version == search.data_version

    settings = EvaluationSettings(n_boot=20, explain_rows=100)
    with pytest.raises(InputsMismatchError, match="candidate_evaluation: "):
        evaluation_steps.evaluate(search, calibration, threshold, theirs, SPEC, settings=settings)
    evaluation = evaluation_steps.evaluate(
        search, calibration, threshold, ours, SPEC, settings=settings
    )
    assert evaluation.data_version == search.data_version
    # The versions survive the JSON the IO manager stores between the steps.
    assert SearchOutcome.from_dict(search.to_dict()).data_version == search.data_version
    assert CalibrationOutcome.from_dict(calibration.to_dict()).data_version == search.data_version
    assert ThresholdChoice.from_dict(threshold.to_dict()).data_version == search.data_version
    assert Evaluation.from_dict(evaluation.to_dict()).data_version == search.data_version

    with pytest.raises(InputsMismatchError, match="model_candidate: "):
        chain.register(
            None,  # refused before the registry is touched
            SPEC,
            search=search,
            calibration=calibration,
            threshold=threshold,
            evaluation=evaluation,
            splits=theirs,
        )
