"""The IO manager stores a range of partitions from one run through a real Dagster instance.

Small partitioned assets return their partitions on demand, as the ingest and scoring assets do:
the IO manager must hold one partition's frame at a time, publish the range only once every
partition was staged, link partitions that are another asset's stored file, and describe on each
partition's materialization what it stored for that partition.
"""

import gc
import json
import os
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    BackfillPolicy,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    asset,
    build_input_context,
    build_output_context,
    define_asset_job,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets import frame_cache
from assets.frame_cache import FileStamp, LastWrittenFrame
from assets.io_manager import (
    FramesOnDemand,
    ParquetJsonIOManager,
    SamePartitionOf,
)
from assets.typed_values import read_json_value, typed_json
from binclf.evaluate.steps import Evaluation
from binclf.io.atomic import write_json_atomic
from binclf.io.partition_store import PartitionStore
from tests.dagster.run_isolation_support import ROOT_ENV

DAYS = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
PARTITIONS = DailyPartitionsDefinition(start_date=DAYS[0], end_date="2026-03-05", timezone="UTC")
DAILY: dict[str, Any] = {
    "partitions_def": PARTITIONS,
    "backfill_policy": BackfillPolicy.single_run(),
}


def day_frame(key: str, rows: int = 1000) -> pl.DataFrame:
    day = int(key[-2:])
    return pl.DataFrame(
        {
            "event_id": range(day * rows, (day + 1) * rows),
            "amount": [float(day)] * rows,
            "channel": [None if i % 4 == 0 else f"c{day}" for i in range(rows)],
        }
    )


class Source:
    """Frames made on request, with a weak reference to each so tests see which are alive."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.made: list[weakref.ref[pl.DataFrame]] = []
        self.alive_when_made: list[int] = []

    def __call__(self, key: str) -> pl.DataFrame:
        gc.collect()
        self.alive_when_made.append(sum(ref() is not None for ref in self.made))
        if key == self.fail_on:
            raise RuntimeError(f"partition {key} cannot be computed")
        frame = day_frame(key)
        self.made.append(weakref.ref(frame))
        return frame


def run_range(source: Source, root: Path, instance: DagsterInstance, selection: str) -> Any:
    """Materialize `selection` over every day in one run; `events` computes with `source`."""

    @asset(**DAILY)
    def events(context: AssetExecutionContext) -> FramesOnDemand:
        return FramesOnDemand(context.partition_keys, source)

    @asset(**DAILY, deps=[events])
    def copied_events(context: AssetExecutionContext) -> dict[str, SamePartitionOf]:
        return dict.fromkeys(context.partition_keys, SamePartitionOf("events"))

    defs = Definitions(
        assets=[events, copied_events],
        jobs=[
            define_asset_job("range", AssetSelection.assets(selection), partitions_def=PARTITIONS)
        ],
        resources={"io_manager": ParquetJsonIOManager(root=str(root))},
    )
    return defs.resolve_job_def("range").execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]},
        raise_on_error=False,
    )


def files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and modification time of every file under root, hidden ones included."""
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def instance() -> Any:
    with DagsterInstance.ephemeral() as instance:
        yield instance


def test_a_range_run_holds_one_partition_frame_at_a_time_and_stores_each_day(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    source = Source()

    result = run_range(source, tmp_path, instance, "events")

    assert result.success
    assert source.alive_when_made == [0, 0, 0, 0]
    for key in DAYS:
        assert pl.read_parquet(tmp_path / "events" / f"{key}.parquet").equals(day_frame(key))
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == [
        f"{key}.parquet" for key in DAYS
    ]


def metadata_by_partition(result: Any, asset_name: str) -> dict[str, dict[str, Any]]:
    return {
        e.partition: {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(asset_name)
    }


def test_each_partition_of_a_range_run_describes_its_own_frame(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    result = run_range(Source(), tmp_path, instance, "events")

    shown = metadata_by_partition(result, "events")
    assert set(shown) == set(DAYS)
    for key in DAYS:
        assert shown[key]["rows"] == 1000
        assert shown[key]["columns"] == 3
        assert "| channel | 0.25 |" in shown[key]["null_shares"]
        day = int(key[-2:])
        assert f"c{day}" in shown[key]["preview"], key
        others = [f"| c{int(k[-2:])} |" for k in DAYS if k != key]
        assert not any(other in shown[key]["preview"] for other in others), key
        assert "partitions" not in shown[key] and "rows_per_partition" not in shown[key]


def test_a_failure_part_way_through_a_range_stores_none_of_its_partitions(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    assert run_range(Source(), tmp_path, instance, "events").success
    before = files(tmp_path)

    result = run_range(Source(fail_on=DAYS[2]), tmp_path, instance, "events")

    assert not result.success
    assert "partition 2026-03-03 cannot be computed" in str(result.get_step_failure_events()[0])
    assert files(tmp_path) == before  # no partition replaced, no temporary file left


def test_a_partition_of_another_asset_is_linked_not_rewritten(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    assert run_range(Source(), tmp_path, instance, "events").success

    result = run_range(Source(), tmp_path, instance, "copied_events")

    assert result.success
    for key in DAYS:
        original, copy = (
            tmp_path / name / f"{key}.parquet" for name in ("events", "copied_events")
        )
        assert os.path.samefile(original, copy)
    shown = metadata_by_partition(result, "copied_events")
    assert {key: m["rows"] for key, m in shown.items()} == dict.fromkeys(DAYS, 1000)
    copied = files(tmp_path / "copied_events")

    assert run_range(Source(), tmp_path, instance, "events").success  # replaces each source file

    assert files(tmp_path / "copied_events") == copied
    assert not os.path.samefile(
        tmp_path / "events" / f"{DAYS[0]}.parquet",
        tmp_path / "copied_events" / f"{DAYS[0]}.parquet",
    )


def test_a_run_over_several_partitions_must_return_each_of_them(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    @asset(**DAILY)
    def events(context: AssetExecutionContext) -> dict[str, pl.DataFrame]:
        return {DAYS[0]: day_frame(DAYS[0])}

    defs = Definitions(
        assets=[events],
        jobs=[define_asset_job("range", partitions_def=PARTITIONS)],
        resources={"io_manager": ParquetJsonIOManager(root=str(tmp_path))},
    )
    result = defs.resolve_job_def("range").execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]},
        raise_on_error=False,
    )

    assert not result.success
    assert "a run over 4 partitions must return" in str(result.get_step_failure_events()[0])
    assert not (tmp_path / "events").exists()


PNG = b"\x89PNG\r\n\x1a\n"


def _write_typed(path: Path, root: Path, value: Evaluation) -> dict[str, Path]:
    data, plots = typed_json(path, root, value)
    write_json_atomic(path, data)
    return plots


def test_a_typed_value_comes_back_as_its_type_with_its_plots_as_files(tmp_path: Path) -> None:
    path = tmp_path / "candidate_evaluation" / "data.json"
    first = Evaluation({"test_rows": 3, "slices": []}, plots={"roc": PNG + b"1"})
    second = Evaluation({"test_rows": 4, "slices": []}, plots={"roc": PNG + b"2", "pr": PNG})

    _write_typed(path, tmp_path, first)
    (old_folder,) = (path.parent / "plots").iterdir()
    plots = _write_typed(path, tmp_path, second)

    assert read_json_value(path, tmp_path) == second
    assert {name: p.read_bytes() for name, p in plots.items()} == second.plots
    (folder,) = (path.parent / "plots").iterdir()  # the first value's plots are gone
    assert folder != old_folder
    assert sorted(p.name for p in folder.iterdir()) == ["pr.png", "roc.png"]
    assert "base64" not in path.read_text()


def test_plain_json_values_are_stored_as_they_are(tmp_path: Path) -> None:
    root = tmp_path / "report"
    root.mkdir()
    (root / "data.json").write_text('{"binclf": 1, "value": [1, 2]}')
    assert read_json_value(root / "data.json", tmp_path) == {"binclf": 1, "value": [1, 2]}


def test_a_failure_part_way_through_json_partitions_stores_none_of_them(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    def report(key: str, fail_on: str | None) -> dict[str, Any]:
        if key == fail_on:
            raise RuntimeError(f"partition {key} cannot be measured")
        return {"day": key, "drift_share": 0.1}

    def run(fail_on: str | None) -> Any:
        @asset(**DAILY)
        def drift(context: AssetExecutionContext) -> FramesOnDemand:
            return FramesOnDemand(context.partition_keys, lambda k: report(k, fail_on))

        defs = Definitions(
            assets=[drift],
            jobs=[define_asset_job("range", partitions_def=PARTITIONS)],
            resources={"io_manager": ParquetJsonIOManager(root=str(tmp_path))},
        )
        return defs.resolve_job_def("range").execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: DAYS[0],
                ASSET_PARTITION_RANGE_END_TAG: DAYS[-1],
            },
            raise_on_error=False,
        )

    assert run(None).success
    before = files(tmp_path)
    assert sorted(before) == [f"drift/{key}.json" for key in DAYS]

    assert not run(DAYS[2]).success
    assert files(tmp_path) == before


def _output(run_id: str) -> Any:
    return build_output_context(asset_key=AssetKey("training_splits"), run_id=run_id)


def test_run_scoped_values_are_read_by_their_own_run_and_old_runs_are_pruned(
    tmp_path: Path,
) -> None:
    manager = ParquetJsonIOManager(root=str(tmp_path), run_scoped=["training_splits"], keep_runs=2)
    frames = {run: day_frame(DAYS[i], rows=5) for i, run in enumerate(["ra", "rb", "rc"])}

    for run, frame in frames.items():
        manager.handle_output(_output(run), frame)
        time.sleep(0.01)  # distinct modification times order the runs

    def load(run: str) -> pl.DataFrame:
        context = build_input_context(
            asset_key=AssetKey("training_splits"), upstream_output=_output(run)
        )
        return manager.load_input(context)

    assert load("rb").equals(frames["rb"]) and load("rc").equals(frames["rc"])
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["rb", "rc"]
    # The newest value is also at the asset's own path, for readers outside a run.
    assert pl.read_parquet(tmp_path / "training_splits" / "data.parquet").equals(frames["rc"])
    assert load("ra").equals(frames["rc"])  # a pruned run's value: the newest stands in


def test_two_runs_launched_together_each_read_their_own_intermediate(tmp_path: Path) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(home)):
        pass  # the storage exists before two processes open it at once
    env = {**os.environ, "DAGSTER_HOME": str(home), ROOT_ENV: str(data)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    command = [sys.executable, "-m", "tests.dagster.run_isolation_support"]
    runs = [subprocess.Popen(command, env=env) for _ in range(2)]

    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    run_ids = sorted(p.name for p in (tmp_path / "arrivals").iterdir())
    assert len(run_ids) == 2
    seen = {run_id: (tmp_path / "seen" / run_id).read_text() for run_id in run_ids}
    assert seen == {run_id: run_id for run_id in run_ids}  # each evaluated its own splits
    for run_id in run_ids:
        own = PartitionStore(data / "runs" / run_id)
        assert own.read("training_splits")["run"].to_list() == [run_id]
        evaluation = json.loads(own.json_path("evaluation").read_text())
        assert evaluation == {"splits_of": run_id}


def _count_parquet_reads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    reads: list[Any] = []
    read = pl.read_parquet

    def counted(source: Any, *args: Any, **kwargs: Any) -> pl.DataFrame:
        reads.append(source)
        return read(source, *args, **kwargs)

    monkeypatch.setattr(pl, "read_parquet", counted)
    return reads


def test_the_steps_after_a_frame_was_written_get_it_without_reading_its_file(
    tmp_path: Path, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _count_parquet_reads(monkeypatch)
    written = day_frame(DAYS[0], rows=50)

    @asset
    def splits() -> pl.DataFrame:
        return written

    @asset
    def search(splits: pl.DataFrame) -> int:
        assert splits.equals(written)
        return splits.height

    @asset
    def evaluation(splits: pl.DataFrame, search: int) -> int:
        assert splits.equals(written) and search == written.height
        return search

    manager = ParquetJsonIOManager(root=str(tmp_path), run_scoped=["splits", "search"])
    result = materialize(
        [splits, search, evaluation], resources={"io_manager": manager}, instance=instance
    )

    assert result.success
    assert reads == []  # two readers, no decode of the file the run just wrote
    stored = tmp_path / "runs" / result.run_id / "splits" / "data.parquet"
    assert pl.read_parquet(stored).equals(written)  # the file is still what readers got


def test_a_kept_frame_is_not_handed_out_once_its_file_was_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = ParquetJsonIOManager(root=str(tmp_path), run_scoped=["training_splits"])
    kept, replacement = day_frame(DAYS[0], rows=5), day_frame(DAYS[1], rows=7)
    manager.handle_output(_output("ra"), kept)
    context = build_input_context(
        asset_key=AssetKey("training_splits"), upstream_output=_output("ra")
    )
    reads = _count_parquet_reads(monkeypatch)

    assert manager.load_input(context).equals(kept) and reads == []
    path = tmp_path / "runs" / "ra" / "training_splits" / "data.parquet"
    staged = path.with_suffix(".other")
    replacement.write_parquet(staged)
    os.replace(staged, path)  # another writer's value, atomically in place
    assert manager.load_input(context).equals(replacement) and len(reads) == 1


def test_a_frame_stamp_changes_with_the_file_it_stamps(tmp_path: Path) -> None:
    path = tmp_path / "frame.parquet"
    day_frame(DAYS[0], rows=20).write_parquet(path)
    stamp = FileStamp.of(path)
    assert FileStamp.of(path) == stamp
    day_frame(DAYS[1], rows=20).write_parquet(path)  # same size, same file, rewritten in place
    assert FileStamp.of(path) != stamp
    kept = LastWrittenFrame()
    kept.remember(path, pl.DataFrame({"a": [1]}))
    assert kept.recall(tmp_path / "other.parquet") is None  # only the file it was written to
    path.unlink()
    assert kept.recall(path) is None


def test_a_frame_too_large_to_keep_is_read_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "frame.parquet"
    frame = day_frame(DAYS[0], rows=200)
    frame.write_parquet(path)
    kept = LastWrittenFrame()
    monkeypatch.setattr(frame_cache, "MAX_KEPT_BYTES", frame.estimated_size() - 1)
    kept.remember(path, frame)
    assert kept.recall(path) is None
    monkeypatch.setattr(frame_cache, "MAX_KEPT_BYTES", frame.estimated_size())
    kept.remember(path, frame)
    recalled = kept.recall(path)
    assert recalled is not None and recalled.equals(frame)
