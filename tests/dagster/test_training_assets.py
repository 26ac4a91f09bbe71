"""Training through Dagster: the window, the splits, the registered version and its card.

The session's template trained once on the tiny synthetic stream with labels known before the
change point (see `pipeline_support`); these tests read what that run stored and recompute the
numbers it reports from the generator and the registered files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import polars as pl
import pytest
from pipeline_support import (
    CHANGE_POINT_DAY,
    CUTOFF,
    DATASET,
    SMALL_TRAINING,
    PipelineWorld,
    TrainedTemplate,
    tiny_spec_data,
)
from sklearn.metrics import log_loss, roc_auc_score

from binclf.evaluate import steps as evaluation_steps
from binclf.evaluate.card import card_headline
from binclf.ingest.synthetic import generate_day
from binclf.register.candidate import EVIDENCE_FILE, costs_on_card
from binclf.register.loading import CARD_FILE, load_version
from binclf.register.registry import MANIFEST_NAME, Registry
from binclf.spec import spec_from_dict
from binclf.train.models import LIGHTGBM_MODEL_FILE
from binclf.train.splits import SPLIT_COLUMN

pytest_plugins = ["pipeline_support"]

SPLIT_ORDER = ("train", "validation", "calibration", "test")
SPLIT_SHARES = {"train": 0.6, "validation": 0.15, "calibration": 0.1, "test": 0.15}
FIRST_VERSION = "v0001"


def _version_dir(world: PipelineWorld, version: str) -> Path:
    return world.registry.root / DATASET / "versions" / version


def _card(world: PipelineWorld, version: str = FIRST_VERSION) -> dict:
    return json.loads(world.registry.open_files(DATASET, version)[CARD_FILE])


def test_training_job_succeeds_and_every_gate_check_passes(
    trained_template: TrainedTemplate,
) -> None:
    result = trained_template.training
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 7
    assert [e.check_name for e in evaluations if not e.passed] == []


def test_training_window_holds_exactly_the_labels_known_at_the_cutoff(
    world: PipelineWorld,
) -> None:
    cutoff = datetime.fromisoformat(CUTOFF).replace(tzinfo=UTC)
    source = world.spec.source
    days = [source.start_date + timedelta(days=i) for i in range(CHANGE_POINT_DAY)]
    generated = pl.concat([generate_day(source, day) for day in days])
    expected = generated.filter(pl.col("label_time") <= cutoff)

    window = world.store.read("training_window")

    assert window.height == expected.height > 0
    assert window["transaction_id"].sort().equals(expected["transaction_id"].sort())
    assert window["label_time"].max() <= cutoff
    assert window["event_time"].max() < cutoff


def test_splits_are_disjoint_cover_the_window_and_follow_time(world: PipelineWorld) -> None:
    window = world.store.read("training_window")
    splits = world.store.read("training_splits")

    assert splits["transaction_id"].is_unique().all()
    assert set(splits["transaction_id"]) == set(window["transaction_id"])
    sizes = splits[SPLIT_COLUMN].value_counts()
    counts = dict(zip(sizes[SPLIT_COLUMN], sizes["count"], strict=True))
    assert set(counts) == set(SPLIT_ORDER)
    for name, share in SPLIT_SHARES.items():
        assert abs(counts[name] - share * window.height) <= 1
    for earlier, later in pairwise(SPLIT_ORDER):
        latest_earlier = splits.filter(pl.col(SPLIT_COLUMN) == earlier)["event_time"].max()
        earliest_later = splits.filter(pl.col(SPLIT_COLUMN) == later)["event_time"].min()
        assert latest_earlier <= earliest_later


def test_registered_version_files_match_their_manifest_checksums(world: PipelineWorld) -> None:
    folder = _version_dir(world, FIRST_VERSION)
    manifest = json.loads((folder / MANIFEST_NAME).read_bytes())
    on_disk = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST_NAME
    }

    assert set(on_disk) == set(manifest["files"])
    for name, data in on_disk.items():
        assert manifest["files"][name] == {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
    assert {LIGHTGBM_MODEL_FILE, "bundle.json", CARD_FILE, EVIDENCE_FILE} <= set(on_disk)
    card = _card(world)
    for name, checksum in card["artifacts"].items():
        assert hashlib.sha256(on_disk[name]).hexdigest() == checksum


def test_model_candidate_reports_the_registered_version_and_its_card(
    trained_template: TrainedTemplate, world: PipelineWorld
) -> None:
    (event,) = [
        e
        for e in trained_template.training.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "model_candidate"
    ]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    card = _card(world)

    assert metadata["version"] == FIRST_VERSION
    assert metadata["card_json"] == card
    assert metadata["headline"] == card_headline(card)
    assert f"{DATASET} {FIRST_VERSION} · lightgbm" in metadata["headline"]


def test_card_headline_numbers_are_the_registered_model_on_the_test_rows(
    world: PipelineWorld,
) -> None:
    card = _card(world)
    model = load_version(world.registry, DATASET, FIRST_VERSION)
    test, y = evaluation_steps.test_rows(world.store.read("training_splits"), world.spec)
    p = model.bundle.probabilities(test)

    metrics = card["test_metrics"]
    assert metrics["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, p), abs=1e-9)
    assert metrics["log_loss"]["value"] == pytest.approx(log_loss(y, p), abs=1e-9)
    assert metrics["prevalence"]["value"] == pytest.approx(y.mean(), abs=1e-12)
    for name in ("roc_auc", "pr_auc", "log_loss"):
        estimate = metrics[name]
        assert estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"]
    assert card["splits"]["test"]["rows"] == len(y)
    assert card["threshold"]["value"] == model.bundle.threshold
    assert (
        card["dataset"]["cutoff"]
        == world.store.read("training_window")["label_time"].max().isoformat()
    )
    evidence = json.loads(world.registry.open_files(DATASET, FIRST_VERSION)[EVIDENCE_FILE])
    assert evidence["test_metrics"] == metrics


def test_the_card_states_the_costs_the_threshold_used_and_whether_the_spec_gave_them(
    world: PipelineWorld,
) -> None:
    costs = _card(world)["threshold"]["costs"]
    unstated = spec_from_dict({k: v for k, v in tiny_spec_data().items() if k != "costs"})

    assert world.spec.costs_stated and costs["stated"] is True and "note" not in costs
    assert (costs["false_positive"], costs["false_negative"]) == (
        world.spec.costs.false_positive,
        world.spec.costs.false_negative,
    )
    default = costs_on_card(unstated)
    assert (default["false_positive"], default["false_negative"], default["stated"]) == (
        1,
        1,
        False,
    )
    assert "no costs were given" in default["note"]


def test_search_stops_at_its_trial_budget(trained_template: TrainedTemplate) -> None:
    (event,) = [
        e
        for e in trained_template.training.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "model_search"
    ]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    budget = SMALL_TRAINING["model_search"]["config"]["n_trials"]
    assert metadata["trials_complete"] + metadata["trials_pruned"] == budget


def test_card_and_ui_show_time_per_trial_pruned_trials_and_the_chosen_fidelity(
    world: PipelineWorld, trained_template: TrainedTemplate
) -> None:
    search = _card(world)["search"]
    assert search["pruned"] >= 0 and search["fidelity_rows"] >= 1
    assert search["rounds_rows"] >= search["fidelity_rows"]
    assert set(search["seconds_per_trial"]) <= {"lightgbm", "logistic"}
    assert all(seconds > 0 for seconds in search["seconds_per_trial"].values())
    (event,) = [
        e
        for e in trained_template.training.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "model_search"
    ]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["fidelity_rows"] >= 1 and metadata["seconds_per_trial"]
    assert "duration_seconds" in metadata["trials"] and "rows" in metadata["trials"]


def test_same_inputs_and_seed_give_a_byte_identical_model(
    trained_template: TrainedTemplate, tmp_path: Path
) -> None:
    root = tmp_path / "state"
    shutil.copytree(trained_template.root / "data", root / "data")  # no studies, no registry
    again = PipelineWorld.create(trained_template.spec, root)
    try:
        assert again.train().success
    finally:
        again.instance.dispose()

    first = Registry(trained_template.root / "registry").open_files(DATASET, FIRST_VERSION)
    second = again.registry.open_files(DATASET, FIRST_VERSION)
    assert second[LIGHTGBM_MODEL_FILE] == first[LIGHTGBM_MODEL_FILE]
    assert second["bundle.json"] == first["bundle.json"]
    first_card, second_card = (json.loads(files[CARD_FILE]) for files in (first, second))
    assert second_card["dataset"]["data_version"] == first_card["dataset"]["data_version"]
    assert second_card["search"]["study"] == first_card["search"]["study"]
