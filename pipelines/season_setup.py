"""The season's settings: its calendar, fault plan, dataset spec, instance config and budget."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

DATASET = "season_card_fraud"
HISTORY_DAYS = 14  # days already in the source when the season starts
ROWS_PER_DAY = 300
TRIAL_BUDGET = 3
TRAINING_OPS: dict[str, Any] = {
    "model_search": {
        "config": {
            "n_trials": TRIAL_BUDGET,
            "timeout_seconds": None,
            "families": ["lightgbm"],
            "num_threads": 1,
            "search_sample_rows": None,
        }
    },
    "calibration": {"config": {"n_folds": 3}},
    "decision_threshold": {"config": {"n_boot": 30}},
    "candidate_evaluation": {"config": {"n_boot": 30, "explain_rows": 200}},
    "champion_decision": {"config": {"n_boot": 100}},
}
# A season tests operation, not model quality: gates loose enough for 300 rows a day.
SEASON_GATES = {
    "min_test_rows": 100,
    "min_test_positives": 5,
    "min_roc_auc": 0.55,
    "min_pr_auc": 0.05,
    "max_ece": 0.3,
    "max_fairness_disparity": 1.0,
    "min_slice_recall": 0.0,
    "min_slice_positives": 5,
}


def season_days(days: int, today: date) -> list[date]:
    """The last `days` finished days, moved back so the first is a Saturday (a Monday retrain
    then falls on the second day's run)."""
    first = today - timedelta(days=days)
    first -= timedelta(days=(first.weekday() - 5) % 7)
    return [first + timedelta(days=i) for i in range(days)]


def is_retrain_day(day: date) -> bool:
    """The day whose processing happens on a Monday, when the weekly retrain is scheduled."""
    return (day + timedelta(days=1)).weekday() == 0


@dataclass(frozen=True)
class FaultPlan:
    corrupt_day: date
    backfill_kill_day: date
    training_kill_day: date
    concurrent_training_day: date
    backfill_kill_delay: float
    training_kill_delay: float


def fault_plan(days: list[date], seed: int) -> FaultPlan:
    rng = random.Random(seed)
    retrains = [d for d in days if is_retrain_day(d)]
    if not retrains:
        raise ValueError("a season needs a Monday retrain: give it at least 2 days")
    others = [d for d in days if not is_retrain_day(d)] or days
    return FaultPlan(
        corrupt_day=rng.choice(others),
        backfill_kill_day=retrains[0],
        training_kill_day=retrains[0],
        concurrent_training_day=retrains[-1],
        backfill_kill_delay=rng.uniform(0.0, 1.5),
        training_kill_delay=rng.uniform(0.5, 3.0),
    )


def season_spec_data(first_history_day: date, horizon: date, source: Path, seed: int) -> dict:
    """The demo's roles over a day-file source; `end_date` fixes the replay's horizon."""
    from binclf.spec import DEMO_SPEC_PATH

    data = yaml.safe_load(DEMO_SPEC_PATH.read_text())
    data.update(
        name=DATASET,
        source={"kind": "parquet", "path": str(source)},
        partitions={"start_date": first_history_day.isoformat(), "end_date": horizon.isoformat()},
        validation={"min_rows": 100, "max_null_share": 0.5, "reference_days": 3},
        monitoring={
            **data["monitoring"],
            "drift_min_rows": 100,
            "min_new_labels": 1500,
            "retrain_window_days": None,
        },
        gates=SEASON_GATES,
    )
    return data


PROJECT_INSTANCE = Path(__file__).resolve().parent.parent / "dagster.yaml"


def write_instance_config(home: Path) -> None:
    """The project's dagster.yaml (run queue, training pool, run monitoring, batched SQLite
    storage) with its storage in `home`, and run monitoring polling often enough to notice a
    killed run within seconds."""
    config = yaml.safe_load(PROJECT_INSTANCE.read_text())
    config["storage"]["custom"]["config"]["base_dir"] = str(home / "storage")
    config["local_artifact_storage"]["config"]["base_dir"] = str(home / "artifacts")
    config["compute_logs"]["config"]["base_dir"] = str(home / "logs")
    config["run_monitoring"]["poll_interval_seconds"] = 5
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


def training_config(run_config: dict[str, Any] | None) -> dict[str, Any]:
    """A requested training run's config with the season's small search budget laid over it."""
    ops = {op: {"config": dict(v["config"])} for op, v in (run_config or {}).get("ops", {}).items()}
    for op, value in TRAINING_OPS.items():
        ops.setdefault(op, {"config": {}})["config"].update(value["config"])
    return {"ops": ops}
