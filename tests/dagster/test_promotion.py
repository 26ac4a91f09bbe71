"""Gates and promotion: who becomes champion, why, and what is written down.

The session's template promoted its first candidate (there was no champion). Each test that
changes the registry works on its own copy of that state: a strict gate through the training job,
a deliberately bad challenger and a copy of the champion through `challenge_champion`, gate
evidence deleted after registration (checksums refuse it) or before it (gates fail closed), and
the promote and rollback jobs.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from dagster import AssetSelection, materialize
from pipeline_support import (
    DATASET,
    QUIET,
    SMALL_TRAINING,
    TINY_GATES,
    PipelineWorld,
    TrainedTemplate,
    failures,
    tiny_spec,
)

from binclf.evaluate import steps as evaluation_steps
from binclf.register.candidate import EVIDENCE_FILE, stored_evidence
from binclf.register.gates import evaluate_gates
from binclf.register.loading import load_version
from binclf.register.promotion import challenge_champion
from binclf.register.registry import IntegrityError
from binclf.train import inputs as training_inputs
from binclf.train.bundle import ScoringBundle
from binclf.train.calibration import Calibrator
from binclf.train.models import fit_lightgbm

pytest_plugins = ["pipeline_support"]

CHAMPION = "v0001"


def _decision(world: PipelineWorld, version: str) -> dict[str, Any]:
    """The newest decision recorded for `version`."""
    return world.registry.decisions(DATASET, version)[-1]["decision"]


def _status(world: PipelineWorld, version: str) -> str:
    return next(v.status for v in world.registry.versions(DATASET) if v.version == version)


def _challenge(world: PipelineWorld, version: str, *, gates_from: str | None = None) -> dict:
    """Judge `version` as `champion_decision` does, on the stored test rows."""
    test, y = evaluation_steps.test_rows(world.store.read("training_splits"), world.spec)
    evidence = stored_evidence(world.registry, world.spec, gates_from or version)
    return challenge_champion(
        world.registry,
        DATASET,
        version,
        test,
        y,
        gates=evaluate_gates(evidence, world.spec.gates),
        metric="pr_auc",
        margin=0.01,
        n_boot=200,
        seed=0,
    )


def test_first_candidate_passing_every_gate_becomes_champion_as_there_is_none(
    trained_template: TrainedTemplate, world: PipelineWorld
) -> None:
    (event,) = [
        e
        for e in trained_template.training.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "champion_decision"
    ]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["decision"] == "promote"
    assert metadata["reason_codes"] == "NO_CHAMPION"
    assert metadata["champion_before"] == "None"

    assert world.registry.champion(DATASET) == CHAMPION
    decision = _decision(world, CHAMPION)
    assert decision["promote"] is True and decision["reason_codes"] == ["NO_CHAMPION"]
    assert decision["gates"] and all(g["passed"] for g in decision["gates"])
    promotions = [e for e in world.registry.audit(DATASET) if e["action"] == "promote"]
    assert [(e["version"], e["outcome"], e["champion_before"]) for e in promotions] == [
        (CHAMPION, "promoted", None)
    ]


def test_failing_gate_blocks_the_decision_records_the_rejection_and_keeps_the_champion(
    fresh_world: PipelineWorld,
) -> None:
    strict = PipelineWorld.create(
        tiny_spec(gates={**TINY_GATES, "min_roc_auc": 0.999}), fresh_world.root
    )

    result = strict.train()

    assert not result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert [name for name, passed in checks.items() if not passed] == ["min_roc_auc"]
    assert result.is_node_untouched("champion_decision")
    shown = strict.latest_metadata("model_candidate")
    candidate = shown["version"]
    assert candidate == "v0002"
    assert shown["status"] == "rejected"
    assert shown["rejection"].startswith(f"**REJECT {candidate}** — gates failed: min_roc_auc")
    verdicts = [
        entry.user_message
        for entry in strict.instance.all_logs(result.run_id)
        if entry.user_message.startswith("REJECT ")
    ]
    (verdict,) = verdicts  # one line, naming the failed gate and its reason
    assert verdict.startswith(f"REJECT {candidate} — 1 of ") and "\n" not in verdict
    assert "gates failed: min_roc_auc: " in verdict
    assert isinstance(shown["test_roc_auc"], float) and shown["test_roc_auc"] < 0.999
    decision = _decision(strict, candidate)
    assert decision["promote"] is False
    assert decision["reason_codes"] == ["GATE_FAILED:min_roc_auc"]
    (gate,) = [g for g in decision["gates"] if g["name"] == "min_roc_auc"]
    assert gate["threshold"] == 0.999 and gate["value"] < 0.999
    assert strict.registry.champion(DATASET) == CHAMPION
    assert _status(strict, candidate) == "rejected"


def _bad_challenger(world: PipelineWorld) -> dict[str, bytes]:
    """The champion's files with its model replaced by one trained on shuffled labels."""
    files = world.registry.open_files(DATASET, CHAMPION)
    schema = load_version(world.registry, DATASET, CHAMPION).bundle.schema
    inputs = training_inputs.model_inputs(
        world.store.read("training_splits"), world.spec, names=("train",), schema=schema
    )
    shuffled = np.random.default_rng(0).permutation(inputs.labels("train"))
    model = fit_lightgbm(
        inputs.features("train"),
        shuffled,
        params={"num_leaves": 8, "learning_rate": 0.1},
        num_boost_round=30,
    )
    bundle = ScoringBundle(schema, model, 0.0, Calibrator("none"), 0.5)
    return {**files, **bundle.to_files()}


def test_clearly_worse_challenger_is_rejected_as_inferior_and_the_champion_stays(
    fresh_world: PipelineWorld,
) -> None:
    bad = fresh_world.register_copy(CHAMPION, edit=lambda _: _bad_challenger(fresh_world))

    record = _challenge(fresh_world, bad, gates_from=CHAMPION)

    assert record["promote"] is False
    assert record["reason_codes"] == ["INFERIOR"]
    assert record["comparison"]["ci_high"] < -0.01
    assert fresh_world.registry.champion(DATASET) == CHAMPION
    assert _decision(fresh_world, bad)["reason_codes"] == ["INFERIOR"]
    assert _status(fresh_world, bad) == "rejected"


def test_challenger_as_good_as_the_champion_is_promoted_as_non_inferior(
    fresh_world: PipelineWorld,
) -> None:
    same = fresh_world.register_copy(CHAMPION)

    record = _challenge(fresh_world, same)

    assert record["promote"] is True
    assert record["reason_codes"] == ["NON_INFERIOR"]
    assert record["comparison"]["value"] == 0.0
    assert fresh_world.registry.champion(DATASET) == same
    assert _status(fresh_world, CHAMPION) == "previous champion"


def _without(evidence: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = evidence
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return evidence


def _edit_evidence(files: dict[str, bytes], path: tuple[str, ...]) -> dict[str, bytes]:
    evidence = json.loads(files[EVIDENCE_FILE])
    return {**files, EVIDENCE_FILE: json.dumps(_without(evidence, path)).encode()}


def _with_trials(search: dict[str, Any], n_trials: int) -> dict[str, Any]:
    return {"config": {**search["config"], "n_trials": n_trials}}


def test_retraining_on_unchanged_inputs_returns_the_existing_version_and_promotes_nothing(
    fresh_world: PipelineWorld,
) -> None:
    world = fresh_world
    before = [info.version for info in world.registry.versions(DATASET)]

    result = world.train()

    assert result.success, failures(result)
    assert [info.version for info in world.registry.versions(DATASET)] == before == [CHAMPION]
    assert world.latest_metadata("model_candidate")["version"] == CHAMPION
    assert world.latest_metadata("model_candidate")["unchanged"] is True
    assert world.latest_metadata("champion_decision")["reason_codes"] == "UNCHANGED"
    assert [d["decision"]["reason_codes"] for d in world.registry.decisions(DATASET, CHAMPION)][
        -1
    ] == ["UNCHANGED"]
    assert world.registry.champion(DATASET) == CHAMPION


def test_evidence_edited_after_registration_stops_the_champion_decision(
    fresh_world: PipelineWorld,
) -> None:
    world = fresh_world
    all_but_decision = AssetSelection.groups("training") - AssetSelection.assets(
        "champion_decision"
    )
    registered = materialize(
        list(world.defs.assets),
        selection=all_but_decision,
        instance=world.instance,
        resources=world.defs.resources,
        run_config={
            **QUIET,
            "ops": {
                **{op: c for op, c in SMALL_TRAINING.items() if op != "champion_decision"},
                # a changed budget makes a new candidate: the same inputs would be UNCHANGED
                "model_search": _with_trials(SMALL_TRAINING["model_search"], 4),
            },
        },
    )
    assert registered.success, failures(registered)
    candidate = world.latest_metadata("model_candidate")["version"]
    evidence_path = world.registry.root / DATASET / "versions" / candidate / EVIDENCE_FILE
    original = evidence_path.read_bytes()
    evidence_path.write_bytes(
        json.dumps(_without(json.loads(original), ("test_metrics", "roc_auc"))).encode()
    )

    def decide() -> Any:
        return materialize(
            list(world.defs.assets),
            selection=AssetSelection.assets("champion_decision"),
            instance=world.instance,
            resources=world.defs.resources,
            run_config={**QUIET, "ops": {"champion_decision": promotable}},
            raise_on_error=False,
        )

    # On the tiny world's 636 test rows the PR-AUC difference's interval is about ±0.04: a
    # margin that wide lets an intact candidate of about the champion's quality be promoted.
    decision_config = SMALL_TRAINING["champion_decision"]["config"]
    promotable = {"config": {**decision_config, "margin": 0.1}}
    refused = decide()

    assert not refused.success
    (failure,) = refused.get_step_failure_events()
    assert failure.step_failure_data.error.cause.cls_name == "IntegrityError"
    assert f"file '{EVIDENCE_FILE}' does not match" in failure.step_failure_data.error.cause.message
    assert world.registry.champion(DATASET) == CHAMPION
    assert world.registry.decisions(DATASET, candidate) == []
    with pytest.raises(IntegrityError, match=EVIDENCE_FILE):
        world.registry.promote(DATASET, candidate, expected_champion=CHAMPION, reason="by hand")

    evidence_path.write_bytes(original)  # the same candidate with its evidence intact is promoted
    assert decide().success
    assert world.registry.champion(DATASET) == candidate
    shown, record = world.latest_metadata("champion_decision"), _decision(world, candidate)
    assert shown["headline"] == record["headline"]
    assert shown["headline"].startswith(
        f"PROMOTE {candidate} over {CHAMPION} — PR-AUC {record['challenger_value']:.3f} vs "
        f"{record['champion_value']:.3f} on {record['test_rows']:,} shared test rows ("
    )
    assert shown["challenger_value"] == pytest.approx(record["challenger_value"])
    assert shown["difference"] == pytest.approx(record["comparison"]["value"])
    for plot in ("roc", "precision_recall", "reliability"):
        assert "data:image/png;base64," in shown[f"plot_{plot}"]


GATE_OF_EVIDENCE = {
    ("test_rows",): "min_test_rows",
    ("test_metrics", "roc_auc"): "min_roc_auc",
    ("test_metrics", "pr_auc"): "min_pr_auc",
    ("test_metrics", "ece_equal_mass"): "max_ece",
    ("fairness",): "max_fairness_disparity",
    ("leakage", "max_single_feature_auc"): "max_single_feature_auc",
}


@pytest.mark.parametrize("path", list(GATE_OF_EVIDENCE), ids=".".join)
def test_evidence_missing_at_registration_fails_its_gate_closed_and_blocks_promotion(
    fresh_world: PipelineWorld, path: tuple[str, ...]
) -> None:
    version = fresh_world.register_copy(CHAMPION, edit=lambda f: _edit_evidence(f, path))

    record = _challenge(fresh_world, version)

    gate = GATE_OF_EVIDENCE[path]
    assert record["promote"] is False
    assert record["reason_codes"][0] == f"GATE_FAILED:{gate}"
    failed = [g for g in record["gates"] if not g["passed"]]
    assert [g["name"] for g in failed] == [gate]
    assert failed[0]["reason"] == "missing evidence: " + ".".join(path)
    assert fresh_world.registry.champion(DATASET) == CHAMPION


def _promote(world: PipelineWorld, version: str, reason: str) -> Any:
    config = {"ops": {"promote_version": {"config": {"version": version, "reason": reason}}}}
    return world.run("promote_job", config)


def _rollback(world: PipelineWorld, reason: str) -> Any:
    return world.run("rollback_job", {"ops": {"rollback_champion": {"config": {"reason": reason}}}})


def test_promote_and_rollback_jobs_move_the_champion_and_leave_audit_entries(
    fresh_world: PipelineWorld,
) -> None:
    world = fresh_world
    second = world.register_copy(CHAMPION)

    promoted = _promote(world, second, "analyst override")
    after_promotion = world.registry.audit(DATASET)[-1]
    rolled_back = _rollback(world, "alerts from the new model")
    after_rollback = world.registry.audit(DATASET)[-1]

    assert promoted.success and rolled_back.success
    assert {k: after_promotion[k] for k in ("action", "version", "outcome", "reason")} == {
        "action": "promote",
        "version": second,
        "outcome": "promoted",
        "reason": "analyst override",
    }
    assert after_promotion["champion_before"] == CHAMPION
    assert after_promotion["decision"]["reason_codes"] == ["MANUAL"]
    assert {k: after_rollback[k] for k in ("action", "version", "outcome", "reason")} == {
        "action": "rollback",
        "version": CHAMPION,
        "outcome": "rolled_back",
        "reason": "alerts from the new model",
    }
    assert world.registry.champion(DATASET) == CHAMPION
    assert _status(world, second) == "retired"


def test_promote_job_refuses_a_tampered_version_and_leaves_the_champion(
    fresh_world: PipelineWorld,
) -> None:
    world = fresh_world
    second = world.register_copy(CHAMPION)
    model = world.registry.root / DATASET / "versions" / second / "bundle.json"
    model.write_bytes(model.read_bytes().replace(b'"threshold"', b'"threshold" '))
    audit_before = world.registry.audit(DATASET)

    result = _promote(world, second, "analyst override")

    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.error.cause.cls_name == "IntegrityError"
    assert world.registry.champion(DATASET) == CHAMPION
    assert world.registry.audit(DATASET) == audit_before


def test_rollback_job_without_a_previous_champion_fails_and_changes_nothing(
    fresh_world: PipelineWorld,
) -> None:
    result = _rollback(fresh_world, "nothing to go back to")

    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.error.cause.cls_name == "NothingToRollBackError"
    assert fresh_world.registry.champion(DATASET) == CHAMPION
