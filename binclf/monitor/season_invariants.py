"""What must hold after any stretch of operation, checked from the state folder's files alone.

Each check returns an `Invariant`: its name, whether it held and, when not, what broke it. They
read the partition store, the validation reports, the registry and the study storage, so they
can be run after a simulated season, after a crash, or on a production state folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from binclf.io import state
from binclf.io.partition_store import PartitionStore
from binclf.register.registry import Registry
from binclf.validate.validation import ValidationReport, report_from_dict

LEFTOVER_SUFFIXES = (".tmp",)
LEFTOVER_PREFIXES = (".staging-",)
CHAMPION_MOVES = {"promoted", "rolled_back"}
FINISHED_TRIAL_STATES = ("COMPLETE", "PRUNED")


@dataclass(frozen=True)
class Invariant:
    name: str
    held: bool
    problems: list[str] = field(default_factory=list)


def _invariant(name: str, problems: list[str]) -> Invariant:
    return Invariant(name, not problems, problems[:20])


def _validation_report(root: Path, key: str) -> ValidationReport | None:
    path = state.reports_dir(root) / "validation" / f"{key}.json"
    return report_from_dict(json.loads(path.read_text())) if path.is_file() else None


def days_accounted_for(root: Path, keys: list[str]) -> Invariant:
    """Every day has exactly one outcome: a validated partition or a recorded validation failure."""
    store = PartitionStore(state.data_dir(root))
    problems = []
    for key in keys:
        report = _validation_report(root, key)
        validated = store.exists("validated_events", key)
        failed = report is not None and not report.success
        if validated == failed:
            outcome = "both validated and failed" if validated else "neither validated nor failed"
            problems.append(f"{key}: {outcome}")
        elif validated and report is None:
            problems.append(f"{key}: validated without a validation report")
    return _invariant("every day validated or its failure recorded", problems)


def champion_at(audit: list[dict], moment: datetime) -> str | None:
    """The champion the audit log names at `moment`: the last promotion or rollback before it."""
    champion = None
    for entry in audit:
        if entry.get("outcome") in CHAMPION_MOVES and datetime.fromisoformat(entry["at"]) <= moment:
            champion = entry["version"]
    return champion


def scores_name_their_champion(root: Path, dataset: str) -> Invariant:
    """Every score row names the version that was champion when its partition was written."""
    store = PartitionStore(state.data_dir(root))
    audit = Registry(state.registry_dir(root)).audit(dataset)
    problems = []
    for key in store.keys("scores"):
        path = store.path("scores", key)
        written = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        versions = set(pl.read_parquet(path, columns=["model_version"])["model_version"])
        expected = champion_at(audit, written)
        if versions != {expected}:
            problems.append(f"{key}: scored by {sorted(versions)}, champion then was {expected}")
    return _invariant("every score row names the champion of its time", problems)


def test_rows_are_own_split(root: Path, dataset: str) -> Invariant:
    """A version's evidence and decisions count exactly the test rows of its own splits
    (a version pruned by retention keeps its card and decisions, not its evidence)."""
    registry = Registry(state.registry_dir(root))
    problems = []
    for info in registry.versions(dataset):
        kept = registry.manifest(dataset, info.version)["files"]
        names = [name for name in ("card.json", "evidence.json") if name in kept]
        files = registry.open_files(dataset, info.version, names=names)
        split_rows = json.loads(files["card.json"])["splits"]["test"]["rows"]
        counted = {}
        if "evidence.json" in files:
            counted["evidence"] = json.loads(files["evidence.json"]).get("test_rows")
        for number, record in enumerate(registry.decisions(dataset, info.version)):
            rows = record.get("decision", {}).get("test_rows")
            if rows is not None:
                counted[f"decision {number}"] = rows
        for source, rows in counted.items():
            if rows != split_rows:
                problems.append(
                    f"{info.version}: {source} has {rows} test rows, split {split_rows}"
                )
    return _invariant("each version's test rows are its own split", problems)


def studies_within_budget(root: Path, dataset: str, budget: int) -> Invariant:
    """No study finished more trials than the budget of the runs that searched it."""
    import optuna

    storage = optuna.storages.RDBStorage(state.optuna_url(root, dataset))
    problems = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        finished = [t for t in study.trials if t.state.name in FINISHED_TRIAL_STATES]
        if len(finished) > budget:
            problems.append(f"{summary.study_name}: {len(finished)} trials, budget {budget}")
    return _invariant(f"no study ran more than {budget} trials", problems)


def audit_replays_to_champion(root: Path, dataset: str) -> Invariant:
    """Replaying the audit log's promotions and rollbacks ends at the champion pointer."""
    registry = Registry(state.registry_dir(root))
    replayed = champion_at(registry.audit(dataset), datetime.max.replace(tzinfo=UTC))
    pointer = registry.champion(dataset)
    problems = [] if replayed == pointer else [f"audit log says {replayed}, pointer {pointer}"]
    return _invariant("the audit log replays to the champion", problems)


def no_leftovers(root: Path) -> Invariant:
    """No staged or half-written file is visible anywhere in the state folder."""
    problems = [
        str(path.relative_to(root))
        for path in sorted(root.rglob("*"))
        if path.name.endswith(LEFTOVER_SUFFIXES) or path.name.startswith(LEFTOVER_PREFIXES)
    ]
    return _invariant("no staged or half-written file", problems)


def season_invariants(
    root: Path, dataset: str, keys: list[str], trial_budget: int
) -> list[Invariant]:
    """Every file-level invariant of a season over the days `keys`."""
    return [
        days_accounted_for(root, keys),
        scores_name_their_champion(root, dataset),
        test_rows_are_own_split(root, dataset),
        studies_within_budget(root, dataset, trial_budget),
        audit_replays_to_champion(root, dataset),
        no_leftovers(root),
    ]
