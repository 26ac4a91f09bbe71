"""The `binclf` command on the trained state: models, card, promote, rollback, registry repair, gc.

`$BINCLF_DATASET` names the tiny spec written as YAML and `$BINCLF_STATE` a copy of the
session's trained state, as a user would set them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pipeline_support import DATASET, PipelineWorld, tiny_spec_data

from binclf.cli import main
from binclf.io.state import STATE_ENV
from binclf.register.registry import Registry
from binclf.spec import DATASET_ENV

pytest_plugins = ["pipeline_support"]

CHAMPION = "v0001"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def binclf(
    fresh_world: PipelineWorld,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    """Run `binclf ARGS...` against the fresh world; returns exit code, stdout and stderr."""
    spec_path = tmp_path / "dataset.yaml"
    spec_path.write_text(yaml.safe_dump(tiny_spec_data()))
    monkeypatch.setenv(DATASET_ENV, str(spec_path))
    monkeypatch.setenv(STATE_ENV, str(fresh_world.root))

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _card(world: PipelineWorld, version: str) -> dict:
    return json.loads(world.registry.open_files(DATASET, version)["card.json"])


def test_models_lists_each_version_with_family_metrics_and_status(
    binclf: Run, fresh_world: PipelineWorld
) -> None:
    second = fresh_world.register_copy(CHAMPION)
    metrics = _card(fresh_world, CHAMPION)["test_metrics"]

    code, out, _ = binclf("models")

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"dataset {DATASET}"
    assert lines[1].split() == ["version", "created", "family", "roc_auc", "pr_auc", "status"]
    champion_row = lines[2].split()
    assert champion_row[0] == CHAMPION and champion_row[2] == "lightgbm"
    assert champion_row[3:5] == [
        f"{metrics['roc_auc']['value']:.4f}",
        f"{metrics['pr_auc']['value']:.4f}",
    ]
    assert champion_row[-1] == "champion"
    assert lines[3].split()[0] == second and lines[3].split()[-1] == "challenger"
    assert len(lines) == 4


def test_card_prints_the_champion_card_as_json_with_its_headline_numbers(
    binclf: Run, fresh_world: PipelineWorld
) -> None:
    code, out, _ = binclf("card")

    assert code == 0
    card = json.loads(out)
    stored = _card(fresh_world, CHAMPION)
    assert card["version"] == CHAMPION and card["status"] == "champion"
    assert card["test_metrics"] == stored["test_metrics"]
    for name in ("roc_auc", "pr_auc", "log_loss"):
        assert set(card["test_metrics"][name]) == {"value", "ci_low", "ci_high"}
    assert card["threshold"]["value"] == stored["threshold"]["value"]
    assert card["model"]["family"] == "lightgbm"
    assert card["promotion_headline"].startswith(f"PROMOTE {CHAMPION} (no champion) — PR-AUC ")


def test_card_without_a_champion_says_so_instead_of_showing_the_newest_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Registry(tmp_path / "state" / "registry")
    version = registry.register("loans", {"card.json": b"{}"}, metadata={"family": "lightgbm"})
    capsys.readouterr()

    code = main(["--dataset", "loans", "--state", str(tmp_path / "state"), "card"])

    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert f"dataset 'loans' has no champion; the newest version {version} is" in captured.err
    assert f"binclf card --version {version}" in captured.err


def test_card_of_a_named_version_reports_its_status(
    binclf: Run, fresh_world: PipelineWorld
) -> None:
    second = fresh_world.register_copy(CHAMPION)

    code, out, _ = binclf("card", "--version", second)

    assert code == 0
    card = json.loads(out)
    assert card["version"] == second and card["status"] == "challenger"


def test_promote_then_rollback_move_the_champion_and_say_so(
    binclf: Run, fresh_world: PipelineWorld
) -> None:
    second = fresh_world.register_copy(CHAMPION)

    promoted = binclf("promote", second, "--reason", "better on recent data")
    champion_after_promotion = fresh_world.registry.champion(DATASET)
    rolled_back = binclf("rollback")

    assert promoted == (0, f"{DATASET}: champion is now {second} (was {CHAMPION})\n", "")
    assert champion_after_promotion == second
    assert rolled_back == (0, f"{DATASET}: champion rolled back from {second} to {CHAMPION}\n", "")
    assert fresh_world.registry.champion(DATASET) == CHAMPION
    audit = [e for e in fresh_world.registry.audit(DATASET) if e["action"] != "record_decision"]
    assert [(e["action"], e["version"], e["reason"]) for e in audit[-2:]] == [
        ("promote", second, "better on recent data"),
        ("rollback", CHAMPION, "manual rollback from the command line"),
    ]


def test_promote_of_an_unknown_version_fails_with_a_message(
    binclf: Run, fresh_world: PipelineWorld
) -> None:
    code, out, err = binclf("promote", "v0042")

    assert (code, out) == (2, "")
    assert err == f"binclf: {DATASET}: version 'v0042' does not exist\n"
    assert fresh_world.registry.champion(DATASET) == CHAMPION


def test_promote_of_a_tampered_version_fails_naming_the_file(
    binclf: Run, fresh_world: PipelineWorld
) -> None:
    second = fresh_world.register_copy(CHAMPION)
    card = fresh_world.registry.root / DATASET / "versions" / second / "card.json"
    card.write_bytes(card.read_bytes() + b" ")

    code, _, err = binclf("promote", second)

    assert code == 2
    assert f"{DATASET} {second}: file 'card.json' does not match its manifest checksum" in err
    assert fresh_world.registry.champion(DATASET) == CHAMPION


def test_rollback_without_a_previous_champion_fails_with_a_message(
    binclf: Run, fresh_world: PipelineWorld
) -> None:
    code, _, err = binclf("rollback")

    assert code == 2
    assert "has no previous champion to roll back to" in err
    assert fresh_world.registry.champion(DATASET) == CHAMPION


def test_commands_on_an_empty_state_say_there_are_no_versions(binclf: Run, tmp_path: Path) -> None:
    empty = str(tmp_path / "empty")

    assert binclf("--state", empty, "models") == (
        0,
        f"no model versions for dataset {DATASET!r}\n",
        "",
    )
    assert binclf("--state", empty, "card") == (
        1,
        "",
        f"no model versions for dataset {DATASET!r}\n",
    )


def test_a_deleted_pointer_fails_naming_the_repair_and_registry_repair_rebuilds_it(
    binclf: Run, fresh_world: PipelineWorld
) -> None:
    second = fresh_world.register_copy(CHAMPION)
    assert binclf("promote", second)[0] == 0
    (fresh_world.registry.root / DATASET / "champion.json").unlink()

    failed = binclf("models")
    repaired = binclf("registry", "repair")
    again = binclf("registry", "repair")

    assert failed[0] == 2 and "run `binclf registry repair`" in failed[2]
    assert repaired == (
        0,
        f"{DATASET}: champion pointer rebuilt from the audit log; champion is {second}\n",
        "",
    )
    assert again[1] == f"{DATASET}: champion pointer matches the audit log; champion is {second}\n"
    assert binclf("rollback")[0] == 0
    assert fresh_world.registry.champion(DATASET) == CHAMPION


def test_gc_removes_leftovers_and_prunes_old_rejected_versions_but_not_the_champion(
    binclf: Run, fresh_world: PipelineWorld
) -> None:
    registry = fresh_world.registry
    rejected = fresh_world.register_copy(CHAMPION)
    registry.record_decision(DATASET, rejected, {"promote": False, "reason_codes": ["INFERIOR"]})
    root = registry.root / DATASET
    (root / "versions" / ".staging-killed").mkdir()
    (root / "versions" / ".staging-killed" / "model.txt").write_bytes(b"half")
    (root / ".champion.json.killed.tmp").write_bytes(b"{")

    code, out, _ = binclf("gc", "--keep-rejected", "0")

    assert code == 0
    assert out == (
        f"{DATASET}: removed 2 leftovers of interrupted writes; pruned 1 rejected versions "
        f"({rejected})\n"
    )
    assert not (root / "versions" / ".staging-killed").exists()
    assert not (root / ".champion.json.killed.tmp").exists()
    registry.open_files(DATASET, CHAMPION)
    card = binclf("card", "--version", rejected)
    assert card[0] == 0 and json.loads(card[1])["status"] == "rejected"
    promoted = binclf("promote", rejected)
    assert promoted[0] == 2 and "pruned by retention" in promoted[2]
    assert registry.champion(DATASET) == CHAMPION
