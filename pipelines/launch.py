"""Runs launched through the workspace, as the UI, a schedule or a sensor would launch them.

A run made with `execute_in_process` or `execute_job` carries no code-location origin, so the UI's
Overview, *Jobs → Runs* and sensor history never show it. Here every run goes through
`dagster job launch -w workspace.yaml` (the instance's run coordinator queues it) and a
`dagster-daemon` started for the duration dequeues it and ticks the sensors that are on, so runs
and sensor ticks are recorded exactly as in production.
"""

from __future__ import annotations

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

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

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
