"""The pipeline's steps on synthetic demo data of a given size, with Dagster and as a plain script.

Both paths run the same binclf calls with the same settings on their own fresh state folder:
ingest + validation of every daily partition, training (window, splits, search + refit,
calibration, threshold, evaluation, registration, champion decision), then scoring, drift and
label status of every partition with the champion. The Dagster path runs the real jobs in
process (as `pipelines.demo` does) on a fresh instance: SQLite files by default, or in memory,
or PostgreSQL. The plain path calls the library directly and keeps the same final results (the
validated and scored partitions, drift and label results), not the intermediate values Dagster
stores between steps. Each phase records wall time, CPU time and peak resident memory.
"""

from __future__ import annotations

import functools
import re
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from assets.io_manager import read_json_value
from binclf.chain import PromotionSettings, TrainingSettings, decide, train_candidate
from binclf.ingest.reader import PartitionReader
from binclf.ingest.sources import (
    event_time_parsing,
    fresh_labels,
    keys_in_window,
    observed_at,
    partition_range,
)
from binclf.io import state
from binclf.io.atomic import fsync_directory, to_json_safe, write_json_atomic
from binclf.io.partition_store import PartitionStore
from binclf.monitor.drift import drift_statistics
from binclf.monitor.drift_days import VersionCache, drift_by_day
from binclf.monitor.label_days import label_status_by_day
from binclf.monitor.performance import scored_performance
from binclf.monitor.slo_charts import slo_chart
from binclf.monitor.slo_days import evaluate_slos
from binclf.monitor.slo_defaults import default_slos
from binclf.partitions import partition_day
from binclf.register.loading import load_champion, load_version
from binclf.register.registry import Registry
from binclf.score.scoring import score_events, training_cutoff
from binclf.spec import DatasetSpec, load_spec
from binclf.train import inputs as training_inputs
from binclf.train.outcomes import SearchOutcome
from binclf.train.search import SearchSettings
from binclf.train.settings import SplitSettings
from binclf.train.window import select_training_window
from binclf.validate.batch import BatchValidator
from binclf.validate.source_checks import with_unparsed_times
from binclf.validate.validation import build_profile, report_to_dict

GIB = 1024**3
_SEARCH_DEFAULTS = SearchSettings()


@dataclass(frozen=True)
class BenchSettings:
    """What the benchmark sets; every other setting is the default of its step's settings model.

    The search budget is a fixed trial count (no timeout), so that both paths do the same work.
    """

    n_trials: int = 20
    num_threads: int = _SEARCH_DEFAULTS.num_threads
    search_sample_rows: int | None = _SEARCH_DEFAULTS.search_sample_rows
    drift_alpha: float = 0.05
    drift_min_effect: float = 0.1
    tolerated_unlabeled_share: float = 0.05
    seed: int = 0

    def training(self) -> TrainingSettings:
        """The plain chain's settings."""
        search = replace(
            _SEARCH_DEFAULTS,
            n_trials=self.n_trials,
            timeout_seconds=None,
            search_sample_rows=self.search_sample_rows,
            num_threads=self.num_threads,
            seed=self.seed,
        )
        return TrainingSettings(splits=SplitSettings(seed=self.seed), search=search)

    def training_run_config(self) -> dict[str, Any]:
        """The training job's config for the same settings."""
        search = {
            "n_trials": self.n_trials,
            "timeout_seconds": None,
            "search_sample_rows": self.search_sample_rows,
            "num_threads": self.num_threads,
            "seed": self.seed,
        }
        return {
            "ops": {
                "model_search": {"config": search},
                "training_splits": {"config": {"seed": self.seed}},
            }
        }


@dataclass
class Measurement:
    """One measured step: wall and CPU seconds, peak resident memory (None if not measured)."""

    phase: str
    step: str
    wall_seconds: float
    cpu_seconds: float | None = None
    peak_rss_bytes: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class PathResult:
    """Every measurement of one path (dagster or plain) at one size."""

    path: str
    rows: int
    measurements: list[Measurement] = field(default_factory=list)

    def get(self, phase: str, step: str = "total") -> Measurement | None:
        return next(
            (m for m in self.measurements if m.phase == phase and m.step == step),
            None,
        )


def bench_spec(rows: int, *, days: int = 40) -> DatasetSpec:
    """The demo dataset resized to about `rows` events over `days` daily partitions.

    The change point sits at three quarters of the days, so the later partitions drift (and the
    training window, all labeled rows, mixes both regimes). The quality gates are opened so that
    the candidate of any size becomes champion and monitoring has a model to score with; every
    gate is still evaluated, so the work is the same.
    """
    if rows < days * 200:
        raise ValueError(f"rows must be at least {days * 200} for {days} days, got {rows}")
    demo = load_spec()
    source = demo.source.model_copy(
        update={"days": days, "rows_per_day": rows // days, "change_point_day": days * 3 // 4}
    )
    end = source.start_date + timedelta(days=days)
    return demo.model_copy(
        update={
            "name": f"bench_{rows}",
            "source": source,
            "partitions": demo.partitions.model_copy(
                update={"start_date": source.start_date, "end_date": end}
            ),
            "gates": demo.gates.model_copy(
                update={
                    "min_roc_auc": 0.0,
                    "min_pr_auc": 0.0,
                    "max_ece": 1.0,
                    "max_fairness_disparity": 1.0,
                    "min_slice_recall": 0.0,
                }
            ),
        }
    )


def _peak_rss_kib() -> int:
    match = re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())
    if match is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(match.group(1))


_open: list[Measurement] = []  # measurements in progress, outermost first


def _fold_peak() -> None:
    """Carry the current peak-RSS mark into every measurement in progress."""
    peak = _peak_rss_kib() * 1024
    for entry in _open:
        entry.peak_rss_bytes = max(entry.peak_rss_bytes or 0, peak)


def _reset_peak_rss() -> bool:
    """Reset the peak-RSS mark to the current RSS (Linux `clear_refs`); False if impossible.

    Measurements in progress keep the peak they saw so far, so nested measurements work.
    """
    _fold_peak()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextmanager
def measured(phase: str, step: str, into: list[Measurement]) -> Iterator[Measurement]:
    """Measure the body: wall and CPU time of this process, and its peak RSS during the body."""
    entry = Measurement(phase, step, 0.0)
    if not _reset_peak_rss():
        entry.notes["peak_rss"] = "process lifetime peak (clear_refs unavailable)"
    _open.append(entry)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield entry
    finally:
        entry.wall_seconds = time.perf_counter() - wall
        entry.cpu_seconds = time.process_time() - cpu
        _fold_peak()
        _open.remove(entry)
    into.append(entry)


def load_average() -> tuple[float, float, float]:
    return tuple(float(x) for x in Path("/proc/loadavg").read_text().split()[:3])  # type: ignore[return-value]


def warm_imports() -> None:
    """Import the slow libraries once, so neither path pays for them inside a measurement."""
    import dagster  # noqa: F401
    import evidently.presets  # noqa: F401
    import great_expectations  # noqa: F401
    import lightgbm  # noqa: F401
    import optuna  # noqa: F401
    import sklearn.metrics  # noqa: F401


def search_work(search: SearchOutcome) -> dict[str, Any]:
    """What the search did: trials, LightGBM boosting rounds of its trials, the refit."""
    return {
        "trials": len(search.history),
        "rounds": sum(t.get("best_iteration") or 0 for t in search.history),
        "refit_rows": search.refit_rows,
        "family": search.family,
    }


# ------------------------------------------------------------------------------------------------
# Plain path: the binclf calls the assets make, without Dagster
# ------------------------------------------------------------------------------------------------


def _plain_ingest(spec: DatasetSpec, root: Path, out: list[Measurement]) -> list[str]:
    """What `validation_profile`, `raw_events` and `validated_events` do, with the same calls:
    the days read in blocks, measured one at a time, judged in one great-expectations call."""
    first, after_last = partition_range(spec)
    keys = [(first + timedelta(days=i)).isoformat() for i in range((after_last - first).days)]
    store = PartitionStore(state.data_dir(root))
    reports_dir = state.reports_dir(root) / "validation"
    with measured("ingest", "total", out) as total:
        reference_keys = keys[: spec.validation.reference_days]
        reader = PartitionReader(spec, reference_keys)
        reference = pl.concat([reader.read(k) for k in reference_keys], how="diagonal_relaxed")
        profile = build_profile(reference, spec, partitions=reference_keys)
        validator = BatchValidator(spec, profile)
        reader = PartitionReader(spec, keys)
        rows = 0
        with store.staging() as staging:
            for key in keys:
                frame = reader.read(key)
                validator.measure(frame, key)
                staging.write("raw_events", frame, key)
                rows += frame.height
        reports = with_unparsed_times(spec, validator.reports(), event_time_parsing(spec))
        for report in reports:
            if not report.success:
                raise RuntimeError(report.summary())
            write_json_atomic(
                reports_dir / f"{report.partition}.json", report_to_dict(report), sync_folder=False
            )
        fsync_directory(reports_dir)
        with store.staging() as staging:
            for key in keys:
                staging.link("validated_events", "raw_events", key)
        total.notes["rows"] = rows
    return keys


def _plain_training(
    spec: DatasetSpec, root: Path, settings: BenchSettings, out: list[Measurement]
) -> None:
    store = PartitionStore(state.data_dir(root))
    registry = Registry(state.registry_dir(root))

    def window() -> pl.DataFrame:
        keys = keys_in_window(store.keys("validated_events"), None, None)
        frame = select_training_window(store.scan("validated_events", keys), spec)
        training_inputs.window_summary(frame, spec, keys, None)
        return frame

    with measured("training", "total", out) as total:
        trained = train_candidate(
            spec,
            window,
            settings.training(),
            registry,
            storage=state.optuna_url(root, spec.name),
            timer=lambda step: measured("training", step, out),
        )
        with measured("training", "champion_decision", out):
            decision = decide(
                registry,
                spec,
                trained.registered.version,
                trained.splits,
                PromotionSettings(),
                unchanged=trained.registered.unchanged,
            )
        total.notes.update(
            window_rows=trained.splits.height,
            promoted=bool(decision.record["promote"]),
            **search_work(trained.search),
        )


def _write_result(store: PartitionStore, asset: str, key: str, value: dict[str, Any]) -> None:
    """Keep a partition's result where the pipeline keeps it: JSON next to its Parquet peers."""
    write_json_atomic(store.path(asset, key).with_suffix(".json"), to_json_safe(value))


def _plain_monitoring(
    spec: DatasetSpec,
    root: Path,
    keys: list[str],
    settings: BenchSettings,
    out: list[Measurement],
) -> None:
    store = PartitionStore(state.data_dir(root))
    registry = Registry(state.registry_dir(root))
    with measured("monitoring", "total", out):
        with measured("monitoring", "scores", out) as scoring:
            champion = load_champion(registry, spec.name)
            rows = 0
            for key in keys:
                scored = score_events(champion, store.read("validated_events", key))
                store.write("scores", scored, key)
                rows += scored.height
            scoring.notes["rows"] = rows
        scores = {key: store.scan("scores", [key]) for key in keys}
        with measured("monitoring", "drift", out):
            days = drift_by_day(
                scores,
                VersionCache(lambda version: load_version(registry, spec.name, version)),
                alpha=settings.drift_alpha,
                min_effect=settings.drift_min_effect,
                share_threshold=spec.monitoring.drift_share_threshold,
            )
            for day in days:
                _write_result(store, "drift", day.partition_key, day.to_dict())
        with measured("monitoring", "label_status_report", out):
            statuses = label_status_by_day(
                spec,
                scores,
                lambda version: training_cutoff(load_version(registry, spec.name, version)),
                as_of=observed_at(spec),
                tolerated_unlabeled_share=settings.tolerated_unlabeled_share,
            )
            for key, status in statuses.items():
                _write_result(store, "label_status_report", key, status)
        with measured("monitoring", "performance", out):
            _plain_performance(spec, store, champion, keys)


def _plain_performance(
    spec: DatasetSpec, store: PartitionStore, champion: Any, keys: list[str]
) -> None:
    """What `performance` and `slo_status` do in the monitoring job: per-day estimates, then
    every SLO's status and chart (the job runs them with every scoring)."""
    costs = (spec.costs.false_positive, spec.costs.false_negative)
    days = []
    for key in keys:
        frame = store.read("scores", key)
        labels = fresh_labels(spec, key)
        if labels is not None:
            frame = frame.drop(labels.columns[1:]).join(labels, on=spec.id_column, how="left")
        _, counts = scored_performance(
            frame,
            partition_day(key),
            target=spec.target,
            positive=spec.positive,
            label_time_column=spec.label_time_column,
            as_of=observed_at(spec),
            threshold=champion.bundle.threshold,
            costs=costs,
            n_validated=store.read("validated_events", key).height,
        )
        days.append(counts)
    slos = (
        list(spec.slos)
        if spec.slos is not None
        else default_slos(champion.card, min_label_coverage=spec.monitoring.min_label_coverage).slos
    )
    _, timelines = evaluate_slos(
        slos, days, costs=costs, label_sla_hours=spec.monitoring.label_sla_hours
    )
    for timeline in timelines.values():
        slo_chart(timeline)


def run_plain(spec: DatasetSpec, root: Path, settings: BenchSettings) -> PathResult:
    """Ingest, train and monitor with the library only."""
    result = PathResult("plain", spec.source.rows_per_day * spec.source.days)
    keys = _plain_ingest(spec, root, result.measurements)
    _plain_training(spec, root, settings, result.measurements)
    _plain_monitoring(spec, root, keys, settings, result.measurements)
    return result


# ------------------------------------------------------------------------------------------------
# Dagster path: the real jobs, in process
# ------------------------------------------------------------------------------------------------

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _step_durations(instance: Any, run_id: str) -> dict[str, float]:
    """Seconds from STEP_START to STEP_SUCCESS of each step of a run, from its event log."""
    started: dict[str, float] = {}
    durations: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = record.timestamp
        elif event.event_type_value == "STEP_SUCCESS" and event.step_key in started:
            durations[event.step_key] = record.timestamp - started[event.step_key]
    return durations


@functools.cache
def bench_job(job: str, rows: int, days: int, root: str) -> Any:
    """A job of the benchmark's definitions, rebuilt from plain arguments (for `execute_job`).

    Built once per process, as a code location's definitions are: Dagster reconstructs the job
    several times per run, and a run worker imports the location's module only once.
    """
    from pipelines.definitions import build_definitions

    return build_definitions(bench_spec(rows, days=days), root).resolve_job_def(job)


def _dagster_job(
    spec: DatasetSpec,
    root: Path,
    instance: Any,
    job: str,
    phase: str,
    out: list[Measurement],
    *,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    step: str = "total",
) -> None:
    """Run a job as the run launcher does: `execute_job`, in this process.

    `execute_in_process` would keep every step's output in memory until the run ends, which a
    launched run does not; at 10M rows that is gigabytes the pipeline never holds.
    """
    from dagster import build_reconstructable_job, execute_job

    rows = spec.source.rows_per_day * spec.source.days
    reconstructable = build_reconstructable_job(
        __name__, "bench_job", reconstructable_args=(job, rows, spec.source.days, str(root))
    )
    with measured(phase, step, out):
        result = execute_job(
            reconstructable,
            instance=instance,
            run_config={**QUIET, **(run_config or {})},
            tags=tags,
            raise_on_error=True,
        )
    for step, seconds in _step_durations(instance, result.run_id).items():
        out.append(Measurement(phase, step, seconds))


INSTANCES = ("sqlite", "memory", "postgres")
POSTGRES_INSTANCE = Path(__file__).resolve().parent.parent / "deploy" / "postgres" / "dagster.yaml"


QUIET_INSTANCE = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"  # as ./dagster.yaml
STORAGE = "storage:\n  custom:\n    module: pipelines.event_log\n    class: BatchedSqliteStorage\n"


def fresh_instance(kind: str, home: str) -> Any:
    """A fresh Dagster instance: SQLite files as `make demo` uses, in memory, or PostgreSQL from
    deploy/postgres/dagster.yaml (`$DAGSTER_PG_URL` names an empty database)."""
    from dagster import DagsterInstance

    if kind == "sqlite":  # the project's storage (./dagster.yaml), in `home`
        storage = f"{STORAGE}    config:\n      base_dir: {home}\n"
        (Path(home) / "dagster.yaml").write_text(QUIET_INSTANCE + storage)
        return DagsterInstance.from_config(home)
    if kind == "memory":
        return DagsterInstance.ephemeral()
    if kind == "postgres":
        shutil.copy(POSTGRES_INSTANCE, Path(home) / "dagster.yaml")
        return DagsterInstance.from_config(home)
    raise ValueError(f"instance must be one of {INSTANCES}, got {kind!r}")


def run_dagster(
    spec: DatasetSpec, root: Path, settings: BenchSettings, *, instance_kind: str = "sqlite"
) -> PathResult:
    """Ingest, train and monitor with the pipeline's jobs on a fresh instance."""
    from dagster import AssetKey, materialize
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from pipelines.definitions import build_definitions

    result = PathResult("dagster", spec.source.rows_per_day * spec.source.days)
    out = result.measurements
    with tempfile.TemporaryDirectory(prefix="dagster-home-") as home:
        instance = fresh_instance(instance_kind, home)
        defs = build_definitions(spec, str(root))
        keys = defs.resolve_job_def("ingest_job").partitions_def.get_partition_keys()
        every_day = {
            ASSET_PARTITION_RANGE_START_TAG: keys[0],
            ASSET_PARTITION_RANGE_END_TAG: keys[-1],
        }
        profile = [a for a in defs.assets if AssetKey("validation_profile") in a.keys]
        with measured("ingest", "total", out):
            materialize(profile, instance=instance, resources=defs.resources, run_config=QUIET)
            _dagster_job(
                spec, root, instance, "ingest_job", "ingest", out, tags=every_day, step="ingest_job"
            )
        _dagster_job(
            spec,
            root,
            instance,
            "training_job",
            "training",
            out,
            run_config=settings.training_run_config(),
        )
        data = state.data_dir(root)
        search = read_json_value(data / "model_search" / "data.json", data)
        decision = read_json_value(data / "champion_decision" / "data.json", data)  # its record
        training = result.get("training")
        assert training is not None
        training.notes.update(
            window_rows=pl.scan_parquet(data / "training_splits" / "data.parquet")
            .select(pl.len())
            .collect()
            .item(),
            promoted=bool(decision["promote"]),
            **search_work(search),
        )
        _dagster_job(
            spec,
            root,
            instance,
            "monitoring_job",
            "monitoring",
            out,
            run_config={"ops": {"drift": {"config": {"html_report": "none"}}}},
            tags=every_day,
        )
        instance.dispose()
    return result


# ------------------------------------------------------------------------------------------------
# evidently's preset next to the fast drift path, on one partition
# ------------------------------------------------------------------------------------------------


def drift_comparison(spec: DatasetSpec, root: Path, out: list[Measurement]) -> None:
    """The newest scored partition against the champion: fast path vs evidently's preset.

    The fast path compares the partition with the stored reference profile (all training rows);
    evidently compares it with the stored 5,000-row reference sample, with and without its HTML.
    """
    from binclf.monitor.drift_report import evidently_drift_html

    registry = Registry(state.registry_dir(root))
    store = PartitionStore(state.data_dir(root))
    champion = load_champion(registry, spec.name)
    frame = store.read("scores", store.keys("scores")[-1])
    schema = champion.bundle.schema
    with measured("drift_comparison", "fast_path", out) as fast:
        result = drift_statistics(champion.reference, frame)
    fast.notes.update(rows=frame.height, share_drifted=round(result.share_drifted, 3))
    with measured("drift_comparison", "evidently_html", out) as evidently:
        html = evidently_drift_html(
            champion.reference_sample,
            frame,
            numeric=list(schema.numeric),
            categorical=list(schema.categorical),
            alarm=result,
            title="Benchmark partition",
            exclude=spec.sensitive,
            sample_rows=frame.height,
        )
    evidently.notes.update(
        rows=frame.height,
        reference_rows=champion.reference_sample.height,
        html_mb=round(len(html) / 1e6, 1),
    )
