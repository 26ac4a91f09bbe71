"""The cluster configs in deploy/ hold against Dagster's own schemas, and Celery runs steps.

The Kubernetes executor and run launcher cannot run here, so their configs are validated with
Dagster's config validation against the executor's and launcher's schemas (the check a launch
does first). The Celery executor runs for real: a Celery worker process takes the steps of an
ingest run from a broker on a loopback PostgreSQL (kombu's SQLAlchemy transport), with the
Dagster instance of deploy/postgres/dagster.yaml on the same server.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from cluster_support import TINY_DAYS, PostgresServer, tiny_synthetic_spec
from dagster._config import process_config, validate_config

pytest_plugins = ["cluster_support"]
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DAYS = TINY_DAYS
CELERY_ENV = {
    "DAGSTER_CELERY_BROKER_URL": "sqla+postgresql+psycopg2://u:p@db:5432/celery",
    "DAGSTER_CELERY_BACKEND_URL": "db+postgresql+psycopg2://u:p@db:5432/celery",
}


def deploy_yaml(*parts: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY.joinpath(*parts)).read_text())


def executor_config(*parts: str) -> dict[str, Any]:
    return deploy_yaml(*parts)["execution"]["config"]


def load_location(path: Path, name: str) -> ModuleType:
    """Import a code location file the way `python_file` in a workspace does."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def error_messages(result: Any) -> str:
    return " ".join(error.message for error in result.errors)


def test_celery_run_config_is_valid_for_the_celery_executor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster_celery import celery_executor

    schema = celery_executor.config_schema.config_type
    config = executor_config("celery", "run_config.yaml")
    for name, value in CELERY_ENV.items():
        monkeypatch.setenv(name, value)
    processed = process_config(schema, config)
    assert processed.success, error_messages(processed)
    assert processed.value["broker"] == CELERY_ENV["DAGSTER_CELERY_BROKER_URL"]
    assert processed.value["config_source"]["task_acks_late"] is True
    misspelled = validate_config(schema, {**config, "brokers": config["broker"]})
    assert not misspelled.success
    assert "brokers" in error_messages(misspelled)


def test_k8s_run_config_is_valid_for_the_k8s_job_executor() -> None:
    from dagster_k8s import k8s_job_executor

    schema = k8s_job_executor.config_schema.config_type
    config = executor_config("k8s", "run_config.yaml")
    processed = process_config(schema, config)
    assert processed.success, error_messages(processed)
    search = processed.value["per_step_k8s_config"]["model_search"]
    assert search["container_config"]["resources"]["limits"]["memory"] == "10Gi"
    wrong_type = validate_config(schema, {**config, "max_concurrent": "four"})
    assert not wrong_type.success
    assert "max_concurrent" in error_messages(wrong_type)


def test_k8s_instance_launches_runs_with_a_valid_k8s_run_launcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster_k8s import K8sRunLauncher

    launcher = deploy_yaml("k8s", "dagster.yaml")["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", K8sRunLauncher.__name__)
    monkeypatch.setenv("BINCLF_IMAGE", "registry.example/binclf:1")
    processed = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert processed.success, error_messages(processed)
    assert processed.value["job_image"] == "registry.example/binclf:1"
    missing = {k: v for k, v in launcher["config"].items() if k != "instance_config_map"}
    assert not validate_config(K8sRunLauncher.config_type(), missing).success


@pytest.mark.parametrize("folder", ["postgres", "k8s"])
def test_instance_files_keep_runs_events_and_schedules_in_postgres(
    folder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.instance.config import dagster_instance_config
    from dagster_postgres import DagsterPostgresStorage

    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql+psycopg2://u:p@db:5432/dagster")
    config, _ = dagster_instance_config(str(DEPLOY / folder))
    storage = config["storage"]["postgres"]
    processed = process_config(DagsterPostgresStorage.config_type(), storage)
    assert processed.success, error_messages(processed)
    assert processed.value["postgres_url"] == "postgresql+psycopg2://u:p@db:5432/dagster"


@pytest.mark.parametrize(
    ("folder", "executor"), [("celery", "celery"), ("k8s", "k8s")], ids=["celery", "k8s"]
)
def test_deploy_code_locations_run_every_job_on_the_cluster_executor(
    folder: str, executor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.definitions import build_definitions

    monkeypatch.setenv("BINCLF_STATE", str(tmp_path))
    monkeypatch.delenv("BINCLF_DATASET", raising=False)
    location = load_location(DEPLOY / folder / "definitions.py", f"binclf_{folder}_location")
    local = build_definitions(tiny_synthetic_spec(), str(tmp_path))
    expected_jobs = {job.name for job in local.resolve_all_job_defs()}
    jobs = {job.name: job for job in location.defs.resolve_all_job_defs()}
    assert set(jobs) == expected_jobs
    assert {job.executor_def.name for job in jobs.values()} == {executor}
    assert {k.to_user_string() for k in location.defs.resolve_all_asset_keys()} == {
        k.to_user_string() for k in local.resolve_all_asset_keys()
    }


def _stop_process_group(process: subprocess.Popen) -> None:
    """Stop a process and every child it started (its own session)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:  # the leader is gone; make sure its children went with it
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return


@pytest.mark.postgres
def test_celery_workers_run_the_steps_of_an_ingest_run(
    postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import AssetKey, DagsterInstance, execute_job, materialize
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from pipelines.definitions import build_definitions

    home, state = tmp_path / "dagster_home", tmp_path / "state"
    home.mkdir()
    shutil.copy(DEPLOY / "postgres" / "dagster.yaml", home / "dagster.yaml")
    spec = tiny_synthetic_spec()
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    celery = postgres.create_database("celery_broker").removeprefix("postgresql")
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": postgres.create_database("celery_instance"),
        "DAGSTER_CELERY_BROKER_URL": f"sqla+postgresql{celery}",
        "DAGSTER_CELERY_BACKEND_URL": f"db+postgresql{celery}",
        "BINCLF_DATASET": str(spec_path),
        "BINCLF_STATE": str(state),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    instance = DagsterInstance.get()  # creates the tables before the worker connects
    local = build_definitions(spec, str(state))
    profile = [a for a in local.assets if AssetKey("validation_profile") in a.keys]
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    assert materialize(profile, instance=instance, resources=local.resources, run_config=quiet)

    worker = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(DEPLOY / "celery" / "run_config.yaml"),
            "--",
            "--concurrency",
            "1",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # `dagster-celery worker start` forks celery: stop the group
    )
    try:
        location = ReconstructableRepository.for_file(
            str(DEPLOY / "celery" / "definitions.py"), "defs", working_directory=str(ROOT)
        )
        run_config = {**deploy_yaml("celery", "run_config.yaml"), **quiet}
        with execute_job(
            location.get_reconstructable_job("ingest_job"),
            instance=instance,
            run_config=run_config,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: DAYS[0],
                ASSET_PARTITION_RANGE_END_TAG: DAYS[-1],
            },
        ) as result:
            assert result.success
            in_worker = {
                event.step_key
                for event in result.all_events
                if event.event_type_value == "ENGINE_EVENT"
                and "in celery worker" in (event.message or "")
            }
            run_id = result.run_id
    finally:
        _stop_process_group(worker)
        instance.dispose()

    assert in_worker == {"raw_events", "validated_events"}
    assert sorted(p.stem for p in (state / "data" / "validated_events").glob("*.parquet")) == list(
        DAYS
    )
    assert postgres.query(
        "celery_instance", "SELECT status FROM runs WHERE run_id = %s", (run_id,)
    ) == [("SUCCESS",)]
