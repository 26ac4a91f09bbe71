import hashlib
import multiprocessing
import threading
from datetime import UTC, datetime

import numpy as np
import pytest

from binclf.io import atomic
from binclf.io.atomic import InvalidFileNameError
from binclf.register.registry import (
    IntegrityError,
    NothingToRollBackError,
    Registry,
    RegistryError,
    UnknownVersionError,
)

DATASET = "fraud"


def _files(tag: str) -> dict[str, bytes]:
    return {
        "model.txt": f"tree {tag}".encode(),
        "schema.json": b'{"numeric": ["amount"]}',
        "plots/roc.png": b"\x89PNG" + tag.encode(),
    }


def _registry_with(tmp_path, count: int) -> tuple[Registry, list[str]]:
    registry = Registry(tmp_path)
    ids = [
        registry.register(DATASET, _files(str(i)), metadata={"family": "lightgbm"})
        for i in range(count)
    ]
    return registry, ids


def test_register_allocates_sortable_ids_and_round_trips_files(tmp_path):
    registry = Registry(tmp_path)
    first = registry.register(DATASET, _files("a"), metadata={"roc_auc": np.float64(0.91)})
    second = registry.register(DATASET, _files("b"), metadata={"family": "logistic"})
    assert (first, second) == ("v0001", "v0002")
    assert registry.open_files(DATASET, first) == _files("a")
    assert registry.latest(DATASET) == "v0002"
    manifest = registry.manifest(DATASET, first)
    assert manifest["metadata"] == {"roc_auc": 0.91}
    data = _files("a")["plots/roc.png"]
    assert manifest["files"]["plots/roc.png"] == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    assert datetime.fromisoformat(manifest["created_at"]).utcoffset() == UTC.utcoffset(None)


def test_crash_during_register_leaves_no_version_visible_and_burns_the_id(tmp_path, monkeypatch):
    registry = Registry(tmp_path)

    def crash(*args):
        raise OSError("crash")

    monkeypatch.setattr(atomic.os, "rename", crash)
    with pytest.raises(OSError, match="crash"):
        registry.register(DATASET, _files("a"), metadata={})
    assert registry.versions(DATASET) == []
    assert list((tmp_path / DATASET / "versions").iterdir()) == []
    monkeypatch.undo()
    assert registry.register(DATASET, _files("b"), metadata={}) == "v0002"
    assert [info.version for info in registry.versions(DATASET)] == ["v0002"]


def test_files_built_from_the_new_version_id_can_name_their_version(tmp_path):
    registry, _ = _registry_with(tmp_path, 1)
    version = registry.register(
        DATASET, lambda vid: {"card.json": f'{{"version": "{vid}"}}'.encode()}, metadata={}
    )
    assert version == "v0002"
    assert registry.open_files(DATASET, version) == {"card.json": b'{"version": "v0002"}'}
    assert registry.manifest(DATASET, version)["version"] == "v0002"


@pytest.mark.parametrize("name", ["../escape.txt", "/abs.txt", "plots/../../x", ".hidden"])
def test_register_rejects_file_names_that_escape_the_version_folder(tmp_path, name):
    with pytest.raises(InvalidFileNameError, match="file name"):
        Registry(tmp_path).register(DATASET, {name: b"x"}, metadata={})
    assert not (tmp_path / "escape.txt").exists()


def test_register_rejects_a_caller_supplied_manifest_and_bad_dataset_names(tmp_path):
    registry = Registry(tmp_path)
    with pytest.raises(RegistryError, match=r"manifest\.json"):
        registry.register(DATASET, {"manifest.json": b"{}"}, metadata={})
    with pytest.raises(RegistryError, match="dataset name"):
        registry.register("../other", _files("a"), metadata={})


def test_tampered_artifact_refuses_to_load_naming_the_file(tmp_path):
    registry, (version,) = _registry_with(tmp_path, 1)
    path = tmp_path / DATASET / "versions" / version / "model.txt"
    path.write_bytes(b"tree 1 but altered")
    with pytest.raises(IntegrityError, match=r"'model\.txt' does not match"):
        registry.open_files(DATASET, version)


def test_missing_or_unlisted_artifact_refuses_to_load(tmp_path):
    registry, (first, second) = _registry_with(tmp_path, 2)
    (tmp_path / DATASET / "versions" / first / "plots" / "roc.png").unlink()
    with pytest.raises(IntegrityError, match=r"'plots/roc\.png' is missing"):
        registry.open_files(DATASET, first)
    (tmp_path / DATASET / "versions" / second / "extra.py").write_bytes(b"import os")
    with pytest.raises(IntegrityError, match=r"extra\.py"):
        registry.open_files(DATASET, second)


def test_unknown_version_is_a_clear_error(tmp_path):
    registry, _ = _registry_with(tmp_path, 1)
    with pytest.raises(UnknownVersionError, match="v0009"):
        registry.open_files(DATASET, "v0009")
    with pytest.raises(UnknownVersionError, match="not a version id"):
        registry.open_files(DATASET, "../v0001")


def test_concurrent_registrations_get_unique_ids_in_threads(tmp_path):
    registry = Registry(tmp_path)
    barrier = threading.Barrier(6)
    results: dict[int, str] = {}

    def register(i: int) -> None:
        barrier.wait()
        results[i] = registry.register(DATASET, _files(str(i)), metadata={"i": i})

    threads = [threading.Thread(target=register, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [f"v{n:04d}" for n in range(1, 7)]
    for i, version in results.items():
        assert registry.open_files(DATASET, version) == _files(str(i))


def _register_in_process(root, tag, barrier, queue):
    barrier.wait()
    queue.put((tag, Registry(root).register(DATASET, _files(tag), metadata={})))


def test_concurrent_registrations_get_unique_ids_in_processes(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(3), context.Queue()
    processes = [
        context.Process(target=_register_in_process, args=(tmp_path, str(i), barrier, queue))
        for i in range(3)
    ]
    for process in processes:
        process.start()
    results = dict(queue.get(timeout=30) for _ in processes)
    for process in processes:
        process.join(timeout=30)
    assert sorted(results.values()) == ["v0001", "v0002", "v0003"]
    for tag, version in results.items():
        assert Registry(tmp_path).open_files(DATASET, version) == _files(tag)


def test_promote_is_compare_and_set_with_audit_for_both_outcomes(tmp_path):
    registry, (first, second) = _registry_with(tmp_path, 2)
    assert registry.champion(DATASET) is None
    assert registry.promote(DATASET, first, expected_champion=None, reason="first model")
    assert not registry.promote(DATASET, second, expected_champion=None, reason="stale view")
    assert registry.champion(DATASET) == first
    promotions = [e for e in registry.audit(DATASET) if e["action"] == "promote"]
    assert [(e["version"], e["outcome"]) for e in promotions] == [
        (first, "promoted"),
        (second, "lost_race"),
    ]
    assert "lost the race" in promotions[1]["detail"]
    assert promotions[1]["champion_before"] == first
    assert all(e["reason"] and e["actor"] and e["at"] for e in promotions)


def test_racing_promotions_in_threads_leave_exactly_one_champion(tmp_path):
    registry, (base, *challengers) = _registry_with(tmp_path, 7)
    registry.promote(DATASET, base, expected_champion=None, reason="initial")
    barrier = threading.Barrier(len(challengers))
    outcomes: dict[str, bool] = {}

    def promote(version: str) -> None:
        barrier.wait()
        outcomes[version] = registry.promote(
            DATASET, version, expected_champion=base, reason="better"
        )

    threads = [threading.Thread(target=promote, args=(v,)) for v in challengers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [version for version, won in outcomes.items() if won]
    assert len(winners) == 1
    assert registry.champion(DATASET) == winners[0]
    entries = [e for e in registry.audit(DATASET) if e["action"] == "promote"][1:]
    assert sorted(e["outcome"] for e in entries) == ["lost_race"] * 5 + ["promoted"]
    assert {e["version"] for e in entries} == set(challengers)


def _promote_in_process(root, version, expected, barrier, queue):
    barrier.wait()
    won = Registry(root).promote(DATASET, version, expected_champion=expected, reason="race")
    queue.put((version, won))


def test_racing_promotions_in_processes_leave_one_winner_and_two_audit_entries(tmp_path):
    registry, (base, left, right) = _registry_with(tmp_path, 3)
    registry.promote(DATASET, base, expected_champion=None, reason="initial")
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(2), context.Queue()
    processes = [
        context.Process(target=_promote_in_process, args=(tmp_path, v, base, barrier, queue))
        for v in (left, right)
    ]
    for process in processes:
        process.start()
    outcomes = dict(queue.get(timeout=30) for _ in processes)
    for process in processes:
        process.join(timeout=30)
    assert sorted(outcomes.values()) == [False, True]
    winner = next(v for v, won in outcomes.items() if won)
    assert registry.champion(DATASET) == winner
    entries = [e for e in registry.audit(DATASET) if e["action"] == "promote"][1:]
    assert sorted((e["version"], e["outcome"]) for e in entries) == sorted(
        (v, "promoted" if won else "lost_race") for v, won in outcomes.items()
    )
    assert len({e["actor"] for e in entries}) == 2


def test_promote_refuses_a_tampered_version_and_keeps_the_pointer(tmp_path):
    registry, (first, second) = _registry_with(tmp_path, 2)
    registry.promote(DATASET, first, expected_champion=None, reason="initial")
    (tmp_path / DATASET / "versions" / second / "schema.json").write_bytes(b"{}")
    with pytest.raises(IntegrityError, match=r"schema\.json"):
        registry.promote(DATASET, second, expected_champion=first, reason="better")
    assert registry.champion(DATASET) == first


def test_promote_requires_a_reason_and_an_existing_version(tmp_path):
    registry, (first,) = _registry_with(tmp_path, 1)
    with pytest.raises(RegistryError, match="reason"):
        registry.promote(DATASET, first, expected_champion=None, reason=" ")
    with pytest.raises(UnknownVersionError, match="v0002"):
        registry.promote(DATASET, "v0002", expected_champion=None, reason="x")


def test_rollback_walks_back_through_champion_history(tmp_path):
    registry, (v1, v2, v3) = _registry_with(tmp_path, 3)
    with pytest.raises(NothingToRollBackError, match="no previous champion"):
        registry.rollback(DATASET, reason="nothing yet")
    registry.promote(DATASET, v1, expected_champion=None, reason="initial")
    registry.promote(DATASET, v2, expected_champion=v1, reason="better")
    registry.promote(DATASET, v3, expected_champion=v2, reason="better again")
    assert registry.rollback(DATASET, reason="v3 degraded in production") == v2
    assert registry.champion(DATASET) == v2
    assert registry.rollback(DATASET, reason="v2 too") == v1
    with pytest.raises(NothingToRollBackError, match="champion: v0001"):
        registry.rollback(DATASET, reason="again")
    rollbacks = [e for e in registry.audit(DATASET) if e["action"] == "rollback"]
    assert [(e["champion_before"], e["version"], e["reason"]) for e in rollbacks] == [
        (v3, v2, "v3 degraded in production"),
        (v2, v1, "v2 too"),
    ]


def test_version_listing_reports_each_status(tmp_path):
    registry, (v1, v2, v3, v4, v5) = _registry_with(tmp_path, 5)
    registry.promote(DATASET, v1, expected_champion=None, reason="initial")
    registry.promote(DATASET, v2, expected_champion=v1, reason="better")
    registry.promote(DATASET, v3, expected_champion=v2, reason="better")
    registry.rollback(DATASET, reason="v3 bad")
    registry.record_decision(DATASET, v4, {"promote": False, "reason_codes": ["gate_failed"]})
    statuses = {info.version: info.status for info in registry.versions(DATASET)}
    assert statuses == {
        v1: "previous champion",
        v2: "champion",
        v3: "retired",
        v4: "rejected",
        v5: "challenger",
    }
    assert [info.version for info in registry.versions(DATASET)] == [v1, v2, v3, v4, v5]
    assert registry.versions(DATASET)[0].metadata == {"family": "lightgbm"}


def test_decision_records_are_stored_in_order_and_json_safe(tmp_path):
    registry, (version,) = _registry_with(tmp_path, 1)
    first = {"promote": False, "gates": [{"name": "roc_auc", "value": np.float32(0.5)}]}
    registry.record_decision(DATASET, version, first)
    registry.record_decision(DATASET, version, {"promote": True, "difference": np.float64(0.02)})
    records = registry.decisions(DATASET, version)
    assert [r["decision"]["promote"] for r in records] == [False, True]
    assert records[0]["decision"]["gates"][0]["value"] == 0.5
    assert records[1]["decision"]["difference"] == 0.02
    assert [e["outcome"] for e in registry.audit(DATASET) if e["action"] == "record_decision"] == [
        "reject",
        "promote",
    ]
    with pytest.raises(RegistryError, match="boolean 'promote'"):
        registry.record_decision(DATASET, version, {"decision": "promote"})
