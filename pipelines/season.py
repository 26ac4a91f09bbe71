"""A simulated season: one instance operated for N days on a file source that grows by a day file.

`python -m pipelines.season --days 90 [--seed 0] [--state DIR]` replays the last N finished days
(a replay: the spec's `partitions.end_date` is the horizon). Each simulated day its file lands
with the labels known then, earlier files gain their late labels, and the day's schedules and
both sensors are evaluated at the simulated time; every run they request is created from the
workspace's code location (so the UI lists it under its job) and executed in this process, one
after another. The runs of the injected faults go through the run queue to the daemon's run
workers, where they can be killed and overlap. Faults come on a seeded plan: a corrupt day
file, a `kill -9` mid-backfill and mid-training, two training requests at once. At the end the
invariants are checked and a table printed. Small data (300 rows a day, a 3-trial search) keeps
a day cheap.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    RunRequest,
    build_schedule_context,
    build_sensor_context,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from binclf.ingest.season_source import DaySource, midnight
from binclf.monitor.season_invariants import Invariant, season_invariants
from binclf.register.registry import Registry
from binclf.spec import DatasetSpec, SyntheticSource, spec_from_dict
from pipelines.launch import LocalRuns, Workspace, daemon, local_runs
from pipelines.season_checks import kill_during_step, runs_finished_with_origin, wait_marked_failed
from pipelines.season_setup import (
    HISTORY_DAYS,
    ROWS_PER_DAY,
    TRIAL_BUDGET,
    FaultPlan,
    fault_plan,
    is_retrain_day,
    season_days,
    season_spec_data,
    training_config,
    write_instance_config,
)

KILLED_RUN_MARKED_WITHIN_SECONDS = 120.0
RETRAIN_SENSORS = ("drift_retrain_sensor", "label_freshness_sensor", "slo_retrain_sensor")


def _range(keys: list[str]) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


@dataclass
class Season:
    """One instance operated day by day; records every run and fault."""

    spec: DatasetSpec
    defs: Definitions
    instance: DagsterInstance
    workspace: Workspace
    local: LocalRuns
    source: DaySource
    root: Path
    plan: FaultPlan
    run_ids: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    cursors: dict[str, str | None] = field(default_factory=dict)
    run_keys: set[str] = field(default_factory=set)
    verbose: bool = True
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> timedelta:
        return timedelta(seconds=round(time.monotonic() - self.started))

    def say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    @property
    def registry(self) -> Registry:
        return self.defs.resources["state"].registry()

    def _tags(self, why: str, kwargs: dict[str, Any], job: str) -> dict[str, str]:
        if job == "training_job":
            kwargs["run_config"] = training_config(kwargs.get("run_config"))
        return {**kwargs.pop("tags", {}), "binclf/season": why}

    def launch(self, job: str, why: str, **kwargs: Any) -> str:
        """Queue a run for the daemon's run worker (the path of the injected faults)."""
        tags = self._tags(why, kwargs, job)
        run_id = self.local.submit(job, tags=tags, **kwargs)
        self.run_ids.append(run_id)
        return run_id

    def finish(self, run_id: str) -> bool:
        return self._said(self.workspace.wait(run_id))

    def run(self, job: str, why: str, **kwargs: Any) -> bool:
        """Create a run from the code location and execute it here; whether it succeeded."""
        tags = self._tags(why, kwargs, job)
        run = self.local.run(job, tags=tags, **kwargs)
        self.run_ids.append(run.run_id)
        return self._said(run)

    def _said(self, run: DagsterRun) -> bool:
        self.say(f"    {run.job_name:<14} {run.status.value:<8} {run.tags['binclf/season']}")
        return run.status == DagsterRunStatus.SUCCESS

    def _request_kwargs(self, request: RunRequest) -> dict[str, Any] | None:
        """A schedule's or sensor's run request as run arguments (None: its run key ran)."""
        if request.run_key and request.run_key in self.run_keys:
            return None
        if request.run_key:
            self.run_keys.add(request.run_key)
        tags = dict(request.tags)
        if request.partition_key:
            tags[PARTITION_NAME_TAG] = request.partition_key
        config = request.run_config if isinstance(request.run_config, dict) else {}
        return {"run_config": config, "tags": tags}

    def request(self, job: str, request: RunRequest, why: str) -> bool | None:
        """Run a request (once per run key); None when its run key already ran."""
        kwargs = self._request_kwargs(request)
        return None if kwargs is None else self.run(job, why, **kwargs)

    def request_queued(self, job: str, request: RunRequest, why: str) -> str | None:
        """Queue a request for the daemon (once per run key); its run id."""
        kwargs = self._request_kwargs(request)
        return None if kwargs is None else self.launch(job, why, **kwargs)

    def schedule_requests(self, name: str, at: datetime) -> list[RunRequest]:
        schedule = self.defs.get_schedule_def(name)
        context = build_schedule_context(
            instance=self.instance,
            scheduled_execution_time=at,
            repository_def=self.defs.get_repository_def(),
        )
        return list(schedule.evaluate_tick(context).run_requests or [])

    def sensor_requests(self, name: str) -> list[RunRequest]:
        sensor = self.defs.get_sensor_def(name)
        context = build_sensor_context(
            instance=self.instance,
            definitions=self.defs,
            cursor=self.cursors.get(name),
            resources=self.defs.resources,
        )
        data = sensor.evaluate_tick(context)
        self.cursors[name] = data.cursor if data.cursor is not None else self.cursors.get(name)
        return list(data.run_requests or [])

    def keys_until(self, day: date) -> list[str]:
        start = self.spec.partitions.start_date
        return [(start + timedelta(days=i)).isoformat() for i in range((day - start).days + 1)]

    # The season ---------------------------------------------------------------------------

    def bootstrap(self, first_day: date) -> None:
        """The history: profile, one backfill, the first training, scores for every day."""
        keys = self.keys_until(first_day - timedelta(days=1))
        self.say(f"history {keys[0]}…{keys[-1]}")
        self.run("profile_job", "bootstrap: validation profile")
        self.run("ingest_job", "bootstrap: backfill", tags=_range(keys))
        if self.run("training_job", "bootstrap: first training"):
            self.run("monitoring_job", "bootstrap: score the history", tags=_range(keys))

    def day(self, day: date) -> None:
        now = midnight(day + timedelta(days=1))
        self.say(f"{day.isoformat()} ({day.strftime('%a')}) at {self.elapsed()}")
        self.source.refresh_labels(now)
        corrupt = day == self.plan.corrupt_day
        self.source.land(day, now, corrupt_column="amount" if corrupt else None)
        self.daily(day, now, corrupt)
        if self.registry.champion(self.spec.name) is not None:
            for request in self.schedule_requests(
                "label_refresh_schedule", now + timedelta(hours=3)
            ):
                self.request("labels_job", request, "label refresh")
        if is_retrain_day(day):
            self.weekly(day, now)
        self.sensors()

    def daily(self, day: date, now: datetime, corrupt: bool) -> None:
        has_champion = self.registry.champion(self.spec.name) is not None
        job = "daily_job" if has_champion else "ingest_job"
        key = day.isoformat()
        requests = self.schedule_requests("daily_job_schedule", now + timedelta(hours=2))
        assert [r.partition_key for r in requests] == [key], requests
        if self.request(job, requests[0], "daily") is False and corrupt:
            self.faults.append(f"corrupt day file {key} (validation failed, file re-delivered)")
            self.source.land(day, now)
            self.run(job, "daily: re-delivered file", tags={PARTITION_NAME_TAG: key})

    def weekly(self, day: date, now: datetime) -> None:
        """Re-ingest the last weeks so late labels reach training, then the weekly retrain."""
        keys = self.keys_until(day)[-self.spec.monitoring.label_refresh_days :]
        if day == self.plan.backfill_kill_day:
            run_id = self.launch("ingest_job", "weekly: re-ingest late labels", tags=_range(keys))
            self._kill(run_id, "raw_events", self.plan.backfill_kill_delay, "mid-backfill")
            self.run("ingest_job", "weekly: re-ingest after kill", tags=_range(keys))
        else:
            self.run("ingest_job", "weekly: re-ingest late labels", tags=_range(keys))
        faulty = day in (self.plan.training_kill_day, self.plan.concurrent_training_day)
        requests = self.schedule_requests("weekly_retrain_schedule", now + timedelta(hours=4))
        for request in requests:
            if not faulty:
                self.request("training_job", request, "weekly retrain")
                continue
            run_id = self.request_queued("training_job", request, "weekly retrain")
            if run_id is None:
                continue
            if day == self.plan.training_kill_day:
                self._kill(run_id, "model_search", self.plan.training_kill_delay, "mid-training")
                run_id = self.launch("training_job", "weekly retrain after kill")
            if day == self.plan.concurrent_training_day:
                other = self.launch("training_job", "second training at the same time")
                self.faults.append(f"two training requests at once on {day.isoformat()}")
                self.finish(other)
            self.finish(run_id)

    def _kill(self, run_id: str, step: str, delay: float, what: str) -> None:
        killed = kill_during_step(self.instance, run_id, step, delay_seconds=delay)
        if not killed:
            self.faults.append(f"kill -9 {what}: the run ended before the kill")
            self.finish(run_id)
            return
        marked = wait_marked_failed(self.instance, run_id, KILLED_RUN_MARKED_WITHIN_SECONDS)
        state = "marked failed" if marked else "NOT marked failed"
        self.faults.append(f"kill -9 {what} ({step} + {delay:.1f} s), {state}")
        self.say(f"    kill -9 {what}: {state}")

    def sensors(self) -> None:
        """The retrain sensors in turn, then the alert sensor (it requests no run)."""
        for name in RETRAIN_SENSORS:
            for request in self.sensor_requests(name):
                self.request("training_job", request, f"requested by {name}")
        self.sensor_requests("alert_sensor")


@dataclass(frozen=True)
class SeasonResult:
    days: int
    runs: int
    failed_runs: int
    faults: list[str]
    invariants: list[Invariant]
    wall_seconds: float


def run_season(days: int, seed: int, folder: Path, *, verbose: bool = True) -> SeasonResult:
    """Operate a fresh instance in `folder` for `days` simulated days; check the invariants."""
    started = time.monotonic()
    calendar = season_days(days, datetime.now(UTC).date())
    first_history = calendar[0] - timedelta(days=HISTORY_DAYS)
    root, home, source_dir = folder / "state", folder / "dagster_home", folder / "source"
    generator = SyntheticSource(
        start_date=first_history,
        days=HISTORY_DAYS + days,
        rows_per_day=ROWS_PER_DAY,
        positive_rate=0.08,
        change_point_day=HISTORY_DAYS + days // 2,
        seed=seed,
    )
    source = DaySource(source_dir, generator)
    for offset in range(HISTORY_DAYS):
        source.land(first_history + timedelta(days=offset), midnight(calendar[0]))
    spec_path = folder / "spec.yaml"
    data = season_spec_data(first_history, calendar[-1] + timedelta(days=1), source_dir, seed)
    spec_path.write_text(yaml.safe_dump(data))
    write_instance_config(home)
    os.environ.update(DAGSTER_HOME=str(home), BINCLF_DATASET=str(spec_path), BINCLF_STATE=str(root))
    from pipelines.definitions import build_definitions

    spec = spec_from_dict(data, base_dir=folder)
    defs = build_definitions(spec, str(root))
    plan = fault_plan(calendar, seed)
    with (
        DagsterInstance.from_config(str(home)) as instance,
        daemon(instance) as workspace,
        local_runs(instance) as local,
    ):
        season = Season(spec, defs, instance, workspace, local, source, root, plan, verbose=verbose)
        season.bootstrap(calendar[0])
        for day in calendar:
            season.day(day)
        keys = season.keys_until(calendar[-1])
        invariants = [
            *season_invariants(root, spec.name, keys, TRIAL_BUDGET),
            runs_finished_with_origin(instance, season.run_ids),
        ]
        failed = sum(
            1
            for run_id in season.run_ids
            if (run := instance.get_run_by_id(run_id)) and run.status != DagsterRunStatus.SUCCESS
        )
    return SeasonResult(
        days, len(season.run_ids), failed, season.faults, invariants, time.monotonic() - started
    )


def print_result(result: SeasonResult) -> None:
    print("\nInvariants")
    for invariant in result.invariants:
        print(f"  {'held  ' if invariant.held else 'BROKEN'} {invariant.name}")
        for problem in invariant.problems:
            print(f"         {problem}")
    print("\nFaults injected")
    for fault in result.faults:
        print(f"  {fault}")
    held = sum(i.held for i in result.invariants)
    print("\n| days | runs (failed) | faults injected | invariants held | wall time |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {result.days} | {result.runs} ({result.failed_runs}) | {len(result.faults)} | "
        f"{held}/{len(result.invariants)} | {timedelta(seconds=round(result.wall_seconds))} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--state", type=Path, default=Path(".state/season"))
    args = parser.parse_args(argv)
    if args.state.exists() and any(args.state.iterdir()):
        parser.error(f"--state {args.state} is not empty: a season starts from nothing")
    args.state.mkdir(parents=True, exist_ok=True)
    result = run_season(args.days, args.seed, args.state.resolve())
    print_result(result)
    return 0 if all(i.held for i in result.invariants) else 1


if __name__ == "__main__":
    sys.exit(main())
