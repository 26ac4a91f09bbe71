"""Runs launched through the workspace, as the UI, a schedule or a sensor would launch them.

A run made with `execute_in_process` or `execute_job` carries no code-location origin, so the UI's
Overview, *Jobs → Runs* and sensor history never show it. Two ways here give runs that origin:

- `Workspace` launches with `dagster job launch -w workspace.yaml`: the instance's run coordinator
  queues the run and a `dagster-daemon` started for the duration dequeues it in a run worker of its
  own (pools, run monitoring, sensor ticks exactly as in production);
- `LocalRuns` creates each run from the code location of `workspace.yaml` loaded once in this
  process and executes it here, as a run worker would: no process start-up per run, for
  simulations that launch hundreds of runs one after another.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._cli.job import _create_run
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._utils.hosted_user_process import recon_job_from_origin

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = ROOT / "workspace.yaml"
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


class LaunchError(RuntimeError):
    """A run could not be launched, or did not finish in time."""


def _dagster_command(name: str) -> str:
    """The console script of the running interpreter's environment."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


@dataclass
class Workspace:
    """Launch runs and switch sensors on the code location of `workspace.yaml`."""

    instance: DagsterInstance
    workspace: Path = WORKSPACE

    def _cli(self, *args: str) -> None:
        command = [_dagster_command("dagster"), *args, "-w", str(self.workspace)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        if done.returncode != 0:
            raise LaunchError(f"{' '.join(args[:2])} failed: {done.stderr.strip()[-2000:]}")

    def launch(
        self,
        job: str,
        *,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Submit a run of `job` to the instance's queue; returns its run id."""
        run_id = str(uuid.uuid4())
        self._cli(
            "job",
            "launch",
            "-j",
            job,
            "--run-id",
            run_id,
            "--config-json",
            json.dumps(dict(run_config or {})),
            "--tags",
            json.dumps(dict(tags or {})),
        )
        return run_id

    def wait(self, run_id: str, *, timeout_seconds: float = 1800.0) -> DagsterRun:
        """Block until the run has finished; returns it."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            run = self.instance.get_run_by_id(run_id)
            if run is not None and run.status in FINISHED:
                return run
            time.sleep(0.5)
        raise LaunchError(f"run {run_id} did not finish within {timeout_seconds:.0f} s")

    def run(self, job: str, **kwargs: Any) -> DagsterRun:
        """Launch a run and wait for it."""
        return self.wait(self.launch(job, **kwargs))

    def start_sensor(self, name: str) -> None:
        self._cli("sensor", "start", name)

    def stop_sensor(self, name: str) -> None:
        self._cli("sensor", "stop", name)

    def wait_for_sensor_run(
        self, sensor: str, *, after: float, timeout_seconds: float = 180.0
    ) -> DagsterRun | None:
        """The first run the sensor requested after `after` (a Unix time), or None on time-out."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            runs = self.instance.get_runs(RunsFilter(tags={"dagster/sensor_name": sensor}), limit=5)
            fresh = [
                r
                for r in runs
                if (record := self.instance.get_run_record_by_id(r.run_id)) is not None
                and record.create_timestamp.timestamp() >= after
            ]
            if fresh:
                return fresh[-1]
            time.sleep(1.0)
        return None


def _load_afresh(module_name: str) -> None:
    """Load the code location's module as a new code server would: its definitions from the
    environment as it is now (dataset, state folder), not as it was when first imported here."""
    importlib.reload(importlib.import_module(module_name))
    # The reconstructed job of the last run is cached by its code pointer, which stays the same.
    ReconstructableJob.get_definition.cache_clear()
    ReconstructableJob.get_repository_definition.cache_clear()


class LocalRuns:
    """Runs created from the workspace's code location, loaded once here, and executed here.

    Each run is made as `dagster job launch` makes it (same origin, snapshots and tags), so it is
    listed under its job in the UI; it is then executed in this process instead of a run worker.
    """

    def __init__(
        self,
        instance: DagsterInstance,
        workspace: Path = WORKSPACE,
        *,
        console_log_level: str = "CRITICAL",
    ) -> None:
        (target,) = yaml.safe_load(workspace.read_text())["load_from"]
        module = target["python_module"]
        _load_afresh(module["module_name"])
        origin = InProcessCodeLocationOrigin(
            LoadableTargetOrigin(
                executable_path=sys.executable,
                module_name=module["module_name"],
                working_directory=str(ROOT),
            ),
            location_name=module["location_name"],
        )
        self.instance = instance
        # The event log keeps every event; the console of this process shows none by default.
        self._console = {"loggers": {"console": {"config": {"log_level": console_log_level}}}}
        self._location_name = module["location_name"]
        self._context = WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin))

    def close(self) -> None:
        self._context.__exit__(None, None, None)

    def _create(
        self,
        request: WorkspaceRequestContext,
        job: str,
        run_config: Mapping[str, Any],
        tags: Mapping[str, str] | None,
    ) -> DagsterRun:
        location = request.get_code_location(self._location_name)
        (repository,) = location.get_repositories().values()
        return _create_run(
            instance=self.instance,
            code_location=location,
            remote_repo=repository,
            remote_job=repository.get_full_job(job),
            run_config=dict(run_config),
            tags=dict(tags or {}),
            op_selection=None,
            run_id=None,
        )

    def run(
        self,
        job: str,
        *,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> DagsterRun:
        """Create a run of `job` with the code location's origin, execute it here, return it."""
        request = self._context.create_request_context()
        config = {**self._console, **(run_config or {})}
        dagster_run = self._create(request, job, config, tags)
        execute_run(recon_job_from_origin(dagster_run.job_code_origin), dagster_run, self.instance)
        finished = self.instance.get_run_by_id(dagster_run.run_id)
        if finished is None:
            raise LaunchError(f"run {dagster_run.run_id} vanished from the instance")
        return finished

    def start_sensor(self, name: str) -> None:
        """Switch a sensor of the location on, as `dagster sensor start` does, without its
        process start-up; a daemon ticks it."""
        request = self._context.create_request_context()
        location = request.get_code_location(self._location_name)
        (repository,) = location.get_repositories().values()
        self.instance.start_sensor(repository.get_sensor(name))

    def submit(
        self,
        job: str,
        *,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Submit a run of `job` to the instance's run queue, as `dagster job launch` does but
        without its process start-up; a daemon's run worker executes it. Returns its run id."""
        request = self._context.create_request_context()
        dagster_run = self._create(request, job, run_config or {}, tags)
        self.instance.submit_run(dagster_run.run_id, request)
        return dagster_run.run_id


@contextmanager
def local_runs(instance: DagsterInstance, workspace: Path = WORKSPACE) -> Iterator[LocalRuns]:
    """`LocalRuns` for the duration."""
    runs = LocalRuns(instance, workspace)
    try:
        yield runs
    finally:
        runs.close()


@contextmanager
def daemon(instance: DagsterInstance, workspace: Path = WORKSPACE) -> Iterator[Workspace]:
    """A `dagster-daemon` for the duration: it dequeues launched runs and ticks sensors."""
    log = Path(instance.root_directory).resolve() / "daemon.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [_dagster_command("dagster-daemon"), "run", "-w", str(workspace)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            start_new_session=True,  # its code server and run workers stop with it
        )
    try:
        yield Workspace(instance=instance, workspace=workspace)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the daemon's whole process group: politely first, then for good."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
