"""Season invariants that need the Dagster instance, and the run-worker kill used as a fault."""

from __future__ import annotations

import os
import signal
import time

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from binclf.monitor.season_invariants import Invariant
from pipelines.launch import FINISHED

PID_EVENT_PREFIX = "Started process for run (pid:"


def runs_finished_with_origin(instance: DagsterInstance, run_ids: list[str]) -> Invariant:
    """Every launched run ended (killed ones marked failed) and is listed under its job."""
    problems = []
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        if run is None:
            problems.append(f"{run_id[:8]}: not in the instance")
        elif run.status not in FINISHED:
            problems.append(f"{run_id[:8]} {run.job_name}: still {run.status.value}")
        elif run.remote_job_origin is None:
            problems.append(f"{run_id[:8]} {run.job_name}: no code-location origin")
    return Invariant("every run ended and is listed under its job", not problems, problems[:20])


def _step_started(instance: DagsterInstance, run_id: str, step: str) -> bool:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_START).records
    return any(r.event_log_entry.step_key == step for r in records)


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid of the process executing the run, as its engine event recorded it."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records
    for record in records:
        message = record.event_log_entry.dagster_event.message or ""
        if message.startswith(PID_EVENT_PREFIX):
            return int(message[len(PID_EVENT_PREFIX) :].split(")")[0])
    return None


def kill_during_step(
    instance: DagsterInstance,
    run_id: str,
    step: str,
    *,
    delay_seconds: float,
    timeout_seconds: float = 300.0,
) -> bool:
    """`kill -9` the run's worker `delay_seconds` after `step` started; False if it ended first."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in FINISHED:
            return False
        if _step_started(instance, run_id, step):
            break
        time.sleep(0.2)
    else:
        return False
    time.sleep(delay_seconds)
    pid = run_worker_pid(instance, run_id)
    run = instance.get_run_by_id(run_id)
    if pid is None or run is None or run.status in FINISHED:
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def wait_marked_failed(instance: DagsterInstance, run_id: str, timeout_seconds: float) -> bool:
    """Whether the instance marks a killed run as failed within the time-out."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status == DagsterRunStatus.FAILURE:
            return True
        time.sleep(1.0)
    return False
