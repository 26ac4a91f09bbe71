"""The season's file invariants hold on a consistent state folder and catch each kind of break."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from binclf.io import state
from binclf.io.partition_store import PartitionStore
from binclf.monitor.season_invariants import (
    audit_replays_to_champion,
    champion_at,
    days_accounted_for,
    no_leftovers,
    scores_name_their_champion,
)
from binclf.monitor.season_invariants import test_rows_are_own_split as own_split_held
from binclf.register.registry import Registry

DATASET = "d"
KEYS = ["2026-03-01", "2026-03-02", "2026-03-03"]


def _report(root: Path, key: str, failures: list[dict]) -> None:
    folder = state.reports_dir(root) / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    report = {"partition": key, "rows": 10, "evaluated": 3, "failures": failures}
    (folder / f"{key}.json").write_text(json.dumps(report))


def test_days_accounted_for_needs_one_outcome_per_day(tmp_path: Path) -> None:
    store = PartitionStore(state.data_dir(tmp_path))
    for key in KEYS[:2]:
        store.write("validated_events", pl.DataFrame({"x": [1]}), key)
        _report(tmp_path, key, [])
    _report(tmp_path, KEYS[2], [{"column": "x", "rule": "nulls", "detail": "all null"}])
    assert days_accounted_for(tmp_path, KEYS).held

    (state.reports_dir(tmp_path) / "validation" / f"{KEYS[2]}.json").unlink()
    broken = days_accounted_for(tmp_path, KEYS)
    assert not broken.held and broken.problems == [f"{KEYS[2]}: neither validated nor failed"]


def test_champion_at_replays_promotions_and_rollbacks() -> None:
    audit = [
        {"at": "2026-03-01T00:00:00+00:00", "outcome": "promoted", "version": "v0001"},
        {"at": "2026-03-02T00:00:00+00:00", "outcome": "promoted", "version": "v0002"},
        {"at": "2026-03-02T12:00:00+00:00", "outcome": "lost_race", "version": "v0003"},
        {"at": "2026-03-03T00:00:00+00:00", "outcome": "rolled_back", "version": "v0001"},
    ]
    assert champion_at(audit, datetime(2026, 2, 1, tzinfo=UTC)) is None
    assert champion_at(audit, datetime(2026, 3, 2, 18, tzinfo=UTC)) == "v0002"
    assert champion_at(audit, datetime(2026, 3, 4, tzinfo=UTC)) == "v0001"


def test_scores_and_audit_follow_the_registry(tmp_path: Path) -> None:
    registry = Registry(state.registry_dir(tmp_path))
    first = registry.register(DATASET, {"card.json": b"{}"}, metadata={})
    assert registry.promote(DATASET, first, expected_champion=None, reason="first")
    store = PartitionStore(state.data_dir(tmp_path))
    store.write("scores", pl.DataFrame({"model_version": [first, first]}), KEYS[0])
    assert scores_name_their_champion(tmp_path, DATASET).held
    assert audit_replays_to_champion(tmp_path, DATASET).held

    store.write("scores", pl.DataFrame({"model_version": ["v0009"]}), KEYS[1])
    broken = scores_name_their_champion(tmp_path, DATASET)
    assert not broken.held and KEYS[1] in broken.problems[0]
    pointer = state.registry_dir(tmp_path) / DATASET / "champion.json"
    moved = json.loads(pointer.read_text()) | {"champion": "v0009"}
    pointer.write_text(json.dumps(moved))
    assert not audit_replays_to_champion(tmp_path, DATASET).held


def test_no_leftovers_sees_temporary_files_and_staging_folders(tmp_path: Path) -> None:
    (tmp_path / "data" / "scores").mkdir(parents=True)
    (tmp_path / "data" / "scores" / "2026-03-01.parquet").write_bytes(b"x")
    assert no_leftovers(tmp_path).held
    (tmp_path / "data" / "scores" / ".2026-03-02.abcd.tmp").write_bytes(b"x")
    (tmp_path / "registry" / ".staging-xyz").mkdir(parents=True)
    assert no_leftovers(tmp_path).problems == [
        "data/scores/.2026-03-02.abcd.tmp",
        "registry/.staging-xyz",
    ]


def _version_files(test_rows: int, evidence_rows: int) -> dict[str, bytes]:
    card = {"splits": {"test": {"rows": test_rows}}}
    return {
        "card.json": json.dumps(card).encode(),
        "evidence.json": json.dumps({"test_rows": evidence_rows}).encode(),
    }


def test_own_split_counts_pruned_versions_by_card_and_decision(tmp_path: Path) -> None:
    registry = Registry(state.registry_dir(tmp_path), keep_rejected=1)
    rejected = {"promote": False, "reason_codes": ["GATE_FAILED:min_roc_auc"], "test_rows": 40}
    for _ in range(3):  # the oldest two rejected versions lose their evidence to retention
        registry.register(DATASET, _version_files(40, 40), metadata={}, decision=rejected)
    assert "evidence.json" in registry.manifest(DATASET, "v0001").get("pruned", {})

    assert own_split_held(tmp_path, DATASET).held

    wrong = {**rejected, "test_rows": 41}
    registry.register(DATASET, _version_files(40, 40), metadata={}, decision=wrong)
    broken = own_split_held(tmp_path, DATASET)
    assert not broken.held and "v0004: decision 0 has 41 test rows" in broken.problems[0]
