"""Registry recovery: a lost pointer, I/O errors mid-change, a tampered manifest, leftovers of
killed writes, retention of rejected versions and idempotent registration."""

from __future__ import annotations

import json
import os

import pytest

from binclf.io import atomic
from binclf.register import registry_journal
from binclf.register.registry import (
    IntegrityError,
    PointerLostError,
    PrunedVersionError,
    Registry,
    RegistryError,
)
from binclf.register.registry_base import Layout, pointer_from_audit, read_pointer

DATASET = "fraud"
REJECT = {"promote": False, "reason_codes": ["GATE_FAILED:min_roc_auc"]}


def _files(tag: str) -> dict[str, bytes]:
    return {
        "model.txt": f"tree {tag}".encode(),
        "card.json": f'{{"tag": "{tag}"}}'.encode(),
        "plots/roc.png": b"\x89PNG" + tag.encode(),
    }


def _promoted_chain(tmp_path, count: int) -> tuple[Registry, list[str]]:
    registry = Registry(tmp_path)
    versions, champion = [], None
    for i in range(count):
        version = registry.register(DATASET, _files(str(i)), metadata={})
        registry.promote(DATASET, version, expected_champion=champion, reason=f"step {i}")
        versions.append(version)
        champion = version
    return registry, versions


def test_a_deleted_pointer_is_an_error_naming_the_repair_and_repair_rebuilds_it(tmp_path):
    registry, (v1, v2, _) = _promoted_chain(tmp_path, 3)
    registry.rollback(DATASET, reason="v3 bad")
    before = read_pointer(Layout(tmp_path, DATASET))
    (tmp_path / DATASET / "champion.json").unlink()

    with pytest.raises(PointerLostError, match="binclf registry repair"):
        registry.champion(DATASET)
    with pytest.raises(PointerLostError, match="4 champion moves"):
        registry.versions(DATASET)

    assert registry.repair(DATASET) is True
    after = read_pointer(Layout(tmp_path, DATASET))
    assert registry.champion(DATASET) == v2
    assert {k: after[k] for k in ("champion", "stack", "retired", "history")} == {
        k: before[k] for k in ("champion", "stack", "retired", "history")
    }
    assert registry.rollback(DATASET, reason="the rollback stack survived the repair") == v1
    assert registry.audit(DATASET)[-2]["action"] == "repair"
    assert registry.repair(DATASET) is False


def test_an_unreadable_pointer_names_the_repair_and_no_moves_means_no_champion(tmp_path):
    registry, _ = _promoted_chain(tmp_path, 1)
    (tmp_path / DATASET / "champion.json").write_bytes(b"{not json")
    with pytest.raises(PointerLostError, match=r"not valid JSON.*binclf registry repair"):
        registry.champion(DATASET)
    assert registry.repair(DATASET) is True
    assert registry.champion(DATASET) == "v0001"
    fresh = Registry(tmp_path / "other")
    fresh.register(DATASET, _files("a"), metadata={})
    assert fresh.champion(DATASET) is None


def _fail_once(monkeypatch, module, name):
    original = getattr(module, name)
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk hiccup")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, failing)


def test_an_os_error_after_the_pointer_write_does_not_make_promote_raise(tmp_path, monkeypatch):
    registry, (v1, v2) = _promoted_chain(tmp_path, 2)
    v3 = registry.register(DATASET, _files("3"), metadata={})
    _fail_once(monkeypatch, registry_journal, "clear")  # removing the journal, after the pointer

    assert registry.promote(DATASET, v3, expected_champion=v2, reason="better") is True

    assert registry.champion(DATASET) == v3
    assert not (tmp_path / DATASET / "journal.json").exists()
    promoted = [e for e in registry.audit(DATASET) if e["outcome"] == "promoted"]
    assert [e["version"] for e in promoted] == [v1, v2, v3]
    assert registry.decisions(DATASET, v3)[-1]["decision"]["promote"] is True


def test_an_os_error_writing_the_pointer_is_rolled_forward_on_next_open(tmp_path, monkeypatch):
    registry, (v1,) = _promoted_chain(tmp_path, 1)
    v2 = registry.register(DATASET, _files("2"), metadata={})
    original = registry_journal.write_json_atomic

    def fail_pointer(path, value):
        if path.name == "champion.json":
            raise OSError("disk full")
        return original(path, value)

    monkeypatch.setattr(registry_journal, "write_json_atomic", fail_pointer)
    assert registry.promote(DATASET, v2, expected_champion=v1, reason="better") is True
    assert json.loads((tmp_path / DATASET / "champion.json").read_bytes())["champion"] == v1
    monkeypatch.undo()

    assert Registry(tmp_path).champion(DATASET) == v2
    pointer = read_pointer(Layout(tmp_path, DATASET))
    assert pointer["stack"] == pointer_from_audit(DATASET, registry.audit(DATASET))["stack"]


def test_manifest_metrics_are_covered_by_its_checksum(tmp_path):
    registry = Registry(tmp_path)
    version = registry.register(DATASET, _files("a"), metadata={"metrics": {"roc_auc": 0.71}})
    path = tmp_path / DATASET / "versions" / version / "manifest.json"
    path.write_bytes(path.read_bytes().replace(b"0.71", b"0.99"))
    with pytest.raises(IntegrityError, match="does not match its own checksum"):
        registry.versions(DATASET)
    with pytest.raises(IntegrityError, match="does not match its own checksum"):
        registry.open_files(DATASET, version)


def test_registration_with_a_gate_rejection_is_one_change(tmp_path, monkeypatch):
    registry = Registry(tmp_path)

    def crash(*args):
        raise OSError("crash")

    monkeypatch.setattr(atomic.os, "rename", crash)
    with pytest.raises(OSError, match="crash"):
        registry.register(DATASET, _files("a"), metadata={}, decision=REJECT)
    monkeypatch.undo()
    assert registry.versions(DATASET) == []
    assert registry.audit(DATASET) == []
    version = registry.register(DATASET, _files("b"), metadata={}, decision=REJECT)
    assert [i.status for i in registry.versions(DATASET)] == ["rejected"]
    assert [e["action"] for e in registry.audit(DATASET)] == ["register", "record_decision"]
    assert (
        registry.decisions(DATASET, version)[0]["decision"]["reason_codes"]
        == REJECT["reason_codes"]
    )


def test_leftovers_of_killed_writes_are_removed_on_the_next_registration(tmp_path):
    registry = Registry(tmp_path)
    registry.register(DATASET, _files("a"), metadata={})
    root = tmp_path / DATASET
    (root / "versions" / ".staging-abc123").mkdir()
    (root / "versions" / ".staging-abc123" / "model.txt").write_bytes(b"half")
    (root / ".champion.json.x1.tmp").write_bytes(b"{")
    (root / "decisions" / "v0001").mkdir(parents=True)
    (root / "decisions" / "v0001" / ".0001.json.x2.tmp").write_bytes(b"{")
    (root / "reservations" / "v0002").mkdir()

    assert registry.register(DATASET, _files("b"), metadata={}) == "v0003"

    assert not (root / "versions" / ".staging-abc123").exists()
    assert list(root.rglob("*.tmp")) == []
    assert sorted(os.listdir(root / "reservations")) == ["v0001", "v0003"]
    assert registry.collect_garbage(DATASET).removed == []


def test_a_registration_in_flight_keeps_its_staging_folder(tmp_path):
    registry = Registry(tmp_path)
    registry.register(DATASET, _files("a"), metadata={})
    seen = {}

    def files_while_gc_runs(version):
        (tmp_path / DATASET / "versions" / ".staging-other").mkdir()
        seen["report"] = registry.collect_garbage(DATASET)
        return _files(version)

    registry.register(DATASET, files_while_gc_runs, metadata={})
    assert all(".staging" not in path for path in seen["report"].removed)
    assert "reservations/v0002" not in seen["report"].removed


def test_retention_prunes_old_rejected_versions_but_never_champion_or_rollback_stack(tmp_path):
    _, chain = _promoted_chain(tmp_path, 2)
    registry = Registry(tmp_path, keep_rejected=2)
    tags = {version: str(i) for i, version in enumerate(chain)}
    for i in range(4):
        version = registry.register(DATASET, _files(f"r{i}"), metadata={}, decision=REJECT)
        tags[version] = f"r{i}"
    rejected = [v for v, tag in tags.items() if tag.startswith("r")]

    # after the registrations, the rejected ones beyond the newest two are pruned
    for version in rejected[:2]:
        with pytest.raises(PrunedVersionError, match="pruned by retention"):
            registry.open_files(DATASET, version)
        card = registry.open_files(DATASET, version, names=["card.json"])
        assert card == {"card.json": _files(tags[version])["card.json"]}
        assert registry.decisions(DATASET, version)[0]["decision"]["promote"] is False
        assert sorted(registry.manifest(DATASET, version)["pruned"]) == [
            "model.txt",
            "plots/roc.png",
        ]
        assert not (tmp_path / DATASET / "versions" / version / "model.txt").exists()
    for version in [*rejected[2:], *chain]:
        assert registry.open_files(DATASET, version) == _files(tags[version])

    assert registry.collect_garbage(DATASET, keep_rejected=0).pruned == rejected[2:]
    for version in chain:  # the champion and the version a rollback returns to
        assert registry.open_files(DATASET, version) == _files(tags[version])
    assert registry.rollback(DATASET, reason="still possible") == chain[0]
    assert [i.status for i in registry.versions(DATASET)][:2] == ["champion", "retired"]


def test_register_once_returns_the_existing_version_for_the_same_fingerprint(tmp_path):
    registry = Registry(tmp_path)
    first = registry.register_once(DATASET, _files("a"), metadata={}, fingerprint="d1+c1+s1")
    again = registry.register_once(DATASET, _files("a"), metadata={}, fingerprint="d1+c1+s1")
    other = registry.register_once(DATASET, _files("b"), metadata={}, fingerprint="d2+c1+s1")

    assert (first.version, first.created) == ("v0001", True)
    assert (again.version, again.created) == ("v0001", False)
    assert (other.version, other.created) == ("v0002", True)
    assert registry.find_by_fingerprint(DATASET, "d1+c1+s1") == "v0001"
    assert registry.find_by_fingerprint(DATASET, "nope") is None
    assert registry.manifest(DATASET, "v0001")["fingerprint"] == "d1+c1+s1"
    with pytest.raises(RegistryError, match="fingerprint"):
        registry.register_once(DATASET, _files("c"), metadata={}, fingerprint="")

    registry.promote(DATASET, "v0001", expected_champion=None, reason="first")
    registry.record_decision(DATASET, "v0002", REJECT)
    registry.record_unchanged(DATASET, "v0001", fingerprint="d1+c1+s1")
    registry.record_unchanged(DATASET, "v0002", fingerprint="d2+c1+s1")

    statuses = {i.version: i.status for i in registry.versions(DATASET)}
    assert statuses == {"v0001": "champion", "v0002": "rejected"}
    assert registry.decisions(DATASET, "v0001")[-1]["decision"]["reason_codes"] == ["UNCHANGED"]
    assert registry.audit(DATASET)[-1]["outcome"] == "unchanged"
    assert [e["version"] for e in registry.audit(DATASET) if e["action"] == "register"] == [
        "v0001",
        "v0002",
    ]


def test_a_challenger_given_unchanged_stays_a_challenger(tmp_path):
    registry = Registry(tmp_path)
    version = registry.register(DATASET, _files("a"), metadata={}, fingerprint="f")
    registry.record_unchanged(DATASET, version, fingerprint="f")
    assert registry.versions(DATASET)[0].status == "challenger"


def test_a_clean_up_killed_between_manifest_and_file_removal_is_finished(tmp_path):
    registry = Registry(tmp_path, keep_rejected=0)
    version = registry.register(DATASET, _files("a"), metadata={}, decision=REJECT)
    model = tmp_path / DATASET / "versions" / version / "model.txt"
    assert not model.exists()
    model.write_bytes(b"tree a")  # as if the kill came right after the manifest was rewritten

    with pytest.raises(PrunedVersionError, match=r"model\.txt"):
        registry.open_files(DATASET, version, names=["card.json", "model.txt"])
    registry.collect_garbage(DATASET)
    assert not model.exists()
    assert registry.open_files(DATASET, version, names=["card.json"])


def test_a_manifest_without_checksum_is_refused_with_a_clear_message(tmp_path):
    registry = Registry(tmp_path)
    version = registry.register(DATASET, _files("a"), metadata={})
    path = tmp_path / DATASET / "versions" / version / "manifest.json"
    manifest = json.loads(path.read_bytes())
    del manifest["checksum"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="has no checksum"):
        registry.open_files(DATASET, version)
