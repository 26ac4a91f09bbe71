"""Random `kill -9`s of a process registering, deciding, promoting and rolling back.

After every kill a fresh registry must show one consistent state: the audit log replays to the
champion pointer, every promotion has its decision record, every gate-rejected registration has
its rejection, every version has its registration entry, and housekeeping leaves no leftovers.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

from binclf.register.registry import Registry
from binclf.register.registry_base import Layout, pointer_from_audit, read_pointer

DATASET = "fraud"
KILLS = 60
SEED = 20240611


def _operate(root: Path, seed: int) -> None:
    """Register, decide, promote and roll back forever (until killed)."""
    rng = random.Random(seed)
    registry = Registry(root, keep_rejected=2)
    while True:
        roll = rng.random()
        files = {"model.txt": os.urandom(2048), "card.json": b"{}"}
        champion = registry.champion(DATASET)
        if roll < 0.3:
            rejection = {"promote": False, "reason_codes": ["GATE_FAILED:min_roc_auc"]}
            registry.register(DATASET, files, metadata={"gate": "failed"}, decision=rejection)
            continue
        version = registry.register(DATASET, files, metadata={"gate": "passed"})
        if roll < 0.8:
            decision = {"promote": True, "reason_codes": ["NON_INFERIOR"], "version": version}
            registry.promote(
                DATASET, version, expected_champion=champion, reason="better", decision=decision
            )
        elif roll < 0.9:
            registry.record_decision(
                DATASET, version, {"promote": False, "reason_codes": ["INFERIOR"]}
            )
        elif len(read_pointer(Layout(root, DATASET))["stack"]) >= 2:
            registry.rollback(DATASET, reason="degraded")


def _interrupted(root: Path) -> list[str]:
    """What a kill left half done, seen before any registry opens the folder."""
    layout = Layout(root, DATASET)
    left = []
    if layout.journal.exists():
        left.append("journal")
    if layout.versions.is_dir() and any(layout.versions.glob(".staging-*")):
        left.append("staging")
    if layout.dir.is_dir() and any(layout.dir.rglob(".*.tmp")):
        left.append("temp file")
    return left


def _assert_consistent(root: Path) -> None:
    registry = Registry(root, keep_rejected=2)
    audit = registry.audit(DATASET)
    layout = Layout(root, DATASET)
    assert not layout.journal.exists()
    pointer = read_pointer(layout)
    replayed = pointer_from_audit(DATASET, audit)
    for key in ("champion", "stack", "retired"):
        assert pointer[key] == replayed[key], key
    assert registry.champion(DATASET) == replayed["champion"]
    registered = [e["version"] for e in audit if e["action"] == "register"]
    assert registered == layout.version_ids()
    for entry in audit:
        if (entry["action"], entry["outcome"]) == ("promote", "promoted"):
            decisions = registry.decisions(DATASET, entry["version"])
            assert any(d["decision"]["promote"] is True for d in decisions), entry["version"]
            same_change = [e for e in audit if e["txn"] == entry["txn"]]
            assert [e["action"] for e in same_change] == ["record_decision", "promote"]
    for info in registry.versions(DATASET):
        if info.metadata["gate"] == "failed":
            assert info.status == "rejected", info.version
    if pointer["champion"] is not None:
        registry.open_files(DATASET, pointer["champion"])
    registry.collect_garbage(DATASET)
    assert _interrupted(root) == []
    assert set(os.listdir(layout.reservations)) <= set(layout.version_ids())


def test_kill_nine_at_random_instants_never_tears_the_registry(tmp_path):
    rng = random.Random(SEED)
    context = multiprocessing.get_context("fork")
    left_behind: Counter[str] = Counter()
    started = time.monotonic()
    for kill in range(KILLS):
        process = context.Process(target=_operate, args=(tmp_path, SEED + kill), daemon=True)
        process.start()
        time.sleep(rng.uniform(0.02, 0.4))
        os.kill(process.pid, signal.SIGKILL)
        process.join(timeout=10)
        assert process.exitcode == -signal.SIGKILL
        left_behind.update(_interrupted(tmp_path))
        _assert_consistent(tmp_path)
    elapsed = time.monotonic() - started
    audit = Registry(tmp_path).audit(DATASET)
    moves = Counter((e["action"], e["outcome"]) for e in audit)
    assert moves[("promote", "promoted")] >= 10 and moves[("register", "registered")] >= 30
    assert left_behind["journal"] + left_behind["staging"] >= 5, left_behind
    print(f"{KILLS} kills in {elapsed:.1f} s; left behind {dict(left_behind)}; {dict(moves)}")
    assert elapsed < 60
