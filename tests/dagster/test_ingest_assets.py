"""The ingest assets run through a real Dagster instance and the real great-expectations.

The tiny dataset is a folder with one Parquet file per day. It is ingested once, all days valid.
Each bad input is then planted in the last day's file only and that day is ingested again: the
blocking check must fail naming the partition, the column and the rule, `validated_events` must
not run, the day's older validated file must be refused (nothing may read it), and every other
partition file written before must keep its bytes and modification time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    PartitionKeyRange,
    build_input_context,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets.ingest import VALIDATION_CHECK, WARNING_CHECK, ingest_assets
from assets.io_manager import ParquetJsonIOManager
from assets.partitions import daily_partitions
from assets.resources import StateResource
from binclf.spec import DatasetSpec
from binclf.validate import validation
from pipelines.jobs import asset_jobs

DAYS = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
BAD_DAY = DAYS[-1]
INGESTED = ("raw_events", "validated_events")


def ingest_definitions(spec: DatasetSpec, state_root: Path) -> Definitions:
    """The ingest layer of the code location: its assets, `ingest_job` and resources."""
    partitions = daily_partitions(spec)
    return Definitions(
        assets=ingest_assets(spec, partitions),
        jobs=[asset_jobs(partitions)["ingest_job"]],
        resources={
            "state": StateResource(root=str(state_root)),
            "io_manager": ParquetJsonIOManager(root=str(state_root / "data")),
        },
    )


def materialize_profile(defs: Definitions, instance: DagsterInstance) -> Any:
    return materialize(
        list(defs.assets),
        selection=AssetSelection.assets("validation_profile"),
        instance=instance,
        resources=defs.resources,
    )


def _on_day(day: str) -> pl.Expr:
    return pl.col("event_time").dt.date() == datetime.fromisoformat(day).date()


@dataclass
class IngestWorld:
    """A dataset of daily source files, its ingest definitions and its state folder."""

    folder: Path
    defs: Definitions
    instance: DagsterInstance
    good: pl.DataFrame
    first_run: Any

    @property
    def data(self) -> Path:
        return self.folder / "state" / "data"

    def write_day(self, day: str, frame: pl.DataFrame) -> None:
        frame.write_parquet(self.folder / "events" / f"{day}.parquet")

    def good_day(self, day: str) -> pl.DataFrame:
        return self.good.filter(_on_day(day))

    def ingest(self, partition_key: str) -> Any:
        job = self.defs.resolve_job_def("ingest_job")
        return job.execute_in_process(
            instance=self.instance, partition_key=partition_key, raise_on_error=False
        )

    def store_has(self, asset: str, partition_key: str) -> bool:
        return (self.data / asset / f"{partition_key}.parquet").is_file()

    def stored(self, asset: str, partition_key: str) -> pl.DataFrame:
        return pl.read_parquet(self.data / asset / f"{partition_key}.parquet")

    def files(self) -> dict[str, tuple[bytes, int]]:
        """Bytes and modification time of every stored partition of the ingest assets."""
        return {
            f"{path.parent.name}/{path.name}": (path.read_bytes(), path.stat().st_mtime_ns)
            for asset in INGESTED
            for path in sorted((self.data / asset).glob("*.parquet"))
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory, dagster_instance, make_events, make_file_spec) -> IngestWorld:
    """The tiny dataset with its profile materialized and every day ingested once, all valid."""
    folder = tmp_path_factory.mktemp("ingest")
    (folder / "events").mkdir()
    good = make_events()
    spec = make_file_spec(folder, None, source={"kind": "parquet", "path": "events"})
    defs = ingest_definitions(spec, folder / "state")
    world = IngestWorld(folder, defs, dagster_instance, good, first_run=None)
    for day in DAYS:
        world.write_day(day, world.good_day(day))
    assert materialize_profile(defs, dagster_instance).success
    world.first_run = defs.resolve_job_def("ingest_job").execute_in_process(
        instance=dagster_instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]},
    )
    return world


@pytest.fixture(autouse=True)
def good_source_after_each_test(world: IngestWorld) -> Iterator[None]:
    yield
    for day in DAYS:
        world.write_day(day, world.good_day(day))
    if not all(world.store_has("validated_events", day) for day in DAYS):
        assert _range_ingest(world).success  # days refused by a test: validate them again


def _first_rows(count: int) -> pl.Expr:
    return pl.int_range(pl.len()) < count


@dataclass(frozen=True)
class BadInput:
    """A fault planted in one day's file, the column and rule that must name it, and its trace."""

    plant: Callable[[pl.DataFrame], pl.DataFrame]
    column: str | None
    rule: str
    is_present: Callable[[pl.DataFrame], bool]


BAD_INPUTS = {
    "missing_target_column": BadInput(
        plant=lambda day: day.drop("label"),
        column="label",
        rule="expect_column_to_exist",
        is_present=lambda f: "label" not in f.columns,
    ),
    "wrong_dtype": BadInput(
        plant=lambda day: day.with_columns(pl.col("amount").cast(pl.String)),
        column="amount",
        rule="expect_column_values_to_be_in_type_list",
        is_present=lambda f: f.schema["amount"] == pl.String,
    ),
    "empty_partition": BadInput(
        plant=lambda day: day.clear(),
        column=None,
        rule="expect_table_row_count_to_be_between",
        is_present=lambda f: f.height == 0,
    ),
    "unseen_category_share_far_over_limit": BadInput(
        # 8 of 40 rows (20 %) against a limit of 5 %: far past it (from 15 %), so it blocks
        plant=lambda day: day.with_columns(
            pl.when(_first_rows(8)).then(pl.lit("teleport")).otherwise("channel").alias("channel")
        ),
        column="channel",
        rule="expect_column_values_to_be_in_set",
        is_present=lambda f: "teleport" in f["channel"].to_list(),
    ),
    "duplicate_ids": BadInput(
        plant=lambda day: day.with_columns(
            pl.when(_first_rows(2)).then(pl.first("event_id")).otherwise("event_id")
        ),
        column="event_id",
        rule="expect_column_values_to_be_unique",
        is_present=lambda f: f["event_id"].n_unique() < f.height,
    ),
    "target_outside_positive_and_negative": BadInput(
        plant=lambda day: day.with_columns(
            pl.when(_first_rows(1)).then(pl.lit("maybe")).otherwise("label").alias("label")
        ),
        column="label",
        rule="expect_column_values_to_be_in_set",
        is_present=lambda f: "maybe" in f["label"].to_list(),
    ),
}


def _verdicts(result: Any, check: str = VALIDATION_CHECK) -> list[Any]:
    """The run's verdicts of one check, one per partition."""
    return [e for e in result.get_asset_check_evaluations() if e.check_name == check]


def _assert_blocked(result: Any, column: str | None, rule: str) -> None:
    """The run failed on the check, whose verdict on the day names partition, column and rule;
    nothing downstream."""
    assert not result.success
    (evaluation,) = _verdicts(result)
    assert not evaluation.passed
    assert evaluation.partition == BAD_DAY
    where = f"column {column!r}" if column else "table"
    assert f"partition {BAD_DAY}: {where} broke {rule}" in evaluation.description
    failures = evaluation.metadata["failures"].value
    assert f"| {BAD_DAY} | {column or ''} | {rule} |" in failures
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {AssetKey("raw_events")}
    assert result.is_node_untouched("validated_events")  # the step never started


def _assert_only_raw_bad_day_changed(
    before: dict[str, tuple[bytes, int]], after: dict[str, tuple[bytes, int]]
) -> None:
    """The bad day's raw file is new, its validated file refused; every other file as it was."""
    raw_bad_day, validated_bad_day = (f"{asset}/{BAD_DAY}.parquet" for asset in INGESTED)
    assert after.pop(raw_bad_day) != before.pop(raw_bad_day)
    before.pop(validated_bad_day, None)  # an earlier test may have refused it already
    assert validated_bad_day not in after
    assert after == before


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_partition_fails_the_blocking_check_and_refuses_its_older_validated_file(
    world: IngestWorld, name: str
) -> None:
    bad = BAD_INPUTS[name]
    planted = bad.plant(world.good_day(BAD_DAY))
    assert bad.is_present(planted) and not bad.is_present(world.good_day(BAD_DAY))
    before = world.files()
    world.write_day(BAD_DAY, planted)

    result = world.ingest(BAD_DAY)

    _assert_blocked(result, bad.column, bad.rule)
    assert bad.is_present(world.stored("raw_events", BAD_DAY))
    _assert_only_raw_bad_day_changed(before, world.files())


class _PinnedClock(datetime):
    """A clock that reads a fixed instant: validation runs while the day is still open."""

    instant: datetime

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return cls.instant if tz is None else cls.instant.astimezone(tz)


def test_event_after_the_validation_time_fails_the_blocking_check(
    world: IngestWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    good_day = world.good_day(BAD_DAY)
    _PinnedClock.instant = good_day["event_time"].max() + timedelta(seconds=1)
    late = datetime.fromisoformat(BAD_DAY).replace(tzinfo=UTC) + timedelta(days=1, microseconds=-1)
    assert late > _PinnedClock.instant
    monkeypatch.setattr(validation, "datetime", _PinnedClock)
    before = world.files()
    world.write_day(
        BAD_DAY,
        good_day.with_columns(
            pl.when(_first_rows(1))
            .then(pl.lit(late, dtype=pl.Datetime("us", "UTC")))
            .otherwise("event_time")
            .alias("event_time")
        ),
    )

    result = world.ingest(BAD_DAY)

    _assert_blocked(result, "event_time", "expect_column_max_to_be_between")
    assert world.stored("raw_events", BAD_DAY)["event_time"].max() == late
    _assert_only_raw_bad_day_changed(before, world.files())


def test_a_lone_bad_day_refuses_its_older_validated_file_so_nothing_downstream_reads_it(
    world: IngestWorld,
) -> None:
    assert world.ingest(BAD_DAY).success  # the day is validated once, with good data
    assert world.store_has("validated_events", BAD_DAY)
    world.write_day(BAD_DAY, BAD_INPUTS["duplicate_ids"].plant(world.good_day(BAD_DAY)))

    assert not world.ingest(BAD_DAY).success

    assert not world.store_has("validated_events", BAD_DAY)
    io_manager = world.defs.resources["io_manager"]
    partitions = world.defs.resolve_assets_def("raw_events").partitions_def
    loaded = io_manager.load_input(
        build_input_context(
            asset_key=AssetKey("validated_events"),
            asset_partitions_def=partitions,
            asset_partition_key_range=PartitionKeyRange(DAYS[0], DAYS[-1]),
        )
    )
    assert sorted(loaded) == DAYS[:-1]  # training and scoring read the other days only


def test_validated_events_alone_refuses_a_partition_whose_stored_report_failed(
    world: IngestWorld,
) -> None:
    world.write_day(BAD_DAY, BAD_INPUTS["duplicate_ids"].plant(world.good_day(BAD_DAY)))
    assert not world.ingest(BAD_DAY).success
    before = world.files()

    result = materialize(
        list(world.defs.assets),
        selection=AssetSelection.assets("validated_events"),
        partition_key=BAD_DAY,
        instance=world.instance,
        resources=world.defs.resources,
        raise_on_error=False,
    )

    assert not result.success
    (failure,) = result.get_step_failure_events()
    cause = failure.step_failure_data.error.cause
    assert cause.cls_name == "PartitionValidationError"
    assert f"partition {BAD_DAY}: column 'event_id' broke expect_column_values_to_be_unique" in (
        cause.message
    )
    assert world.files() == before


def test_a_range_of_clean_days_is_ingested_in_one_run_without_a_verdict_to_record(
    world: IngestWorld,
) -> None:
    result = world.first_run
    assert result.success
    # a day gets a verdict when it fails or warns, or when its last report did
    assert result.get_asset_check_evaluations() == []
    for day in DAYS:
        assert world.stored("validated_events", day).equals(world.good_day(day))


def test_a_range_ingest_links_each_validated_partition_to_its_raw_file_and_counts_rows(
    world: IngestWorld,
) -> None:
    result = world.defs.resolve_job_def("ingest_job").execute_in_process(
        instance=world.instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]},
    )

    assert result.success
    for day in DAYS:
        raw, validated = (world.data / asset / f"{day}.parquet" for asset in INGESTED)
        assert os.path.samefile(raw, validated)  # the validated file is not a rewrite
    for asset in INGESTED:
        shown = {
            e.partition: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()
            if e.asset_key == AssetKey(asset)
        }
        assert {day: m["rows"] for day, m in shown.items()} == {
            day: world.good_day(day).height for day in DAYS
        }
    assert all(
        e.materialization.metadata["validation"].value.startswith(f"partition {e.partition}:")
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey("validated_events")
    )


def test_reingesting_a_partition_replaces_only_that_partition(world: IngestWorld) -> None:
    day = DAYS[2]
    changed = world.good_day(day).with_columns(pl.col("amount") * 2)
    before = world.files()
    world.write_day(day, changed)

    result = world.ingest(day)

    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    after = world.files()
    for asset in INGESTED:
        assert world.stored(asset, day).equals(changed)
        assert after.pop(f"{asset}/{day}.parquet") != before.pop(f"{asset}/{day}.parquet")
    assert after == before


def test_dataset_without_time_column_is_ingested_as_one_snapshot_partition(
    tmp_path: Path, make_events, make_file_spec
) -> None:
    table = make_events().drop("event_time")
    spec = make_file_spec(tmp_path, table, time_column=None, partitions={})
    snapshot = spec.partitions.snapshot_date.isoformat()
    assert daily_partitions(spec).get_partition_keys() == [snapshot]
    defs = ingest_definitions(spec, tmp_path / "state")
    instance = DagsterInstance.ephemeral()

    assert materialize_profile(defs, instance).success
    result = defs.resolve_job_def("ingest_job").execute_in_process(
        instance=instance, partition_key=snapshot
    )

    assert result.success
    stored = pl.read_parquet(
        tmp_path / "state" / "data" / "validated_events" / f"{snapshot}.parquet"
    )
    assert stored.equals(table)


def _range_ingest(world: IngestWorld) -> Any:
    return world.defs.resolve_job_def("ingest_job").execute_in_process(
        instance=world.instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]},
        raise_on_error=False,
    )


def _error_lines(result: Any, instance: DagsterInstance) -> list[str]:
    return [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level >= logging.ERROR and entry.dagster_event is None
    ]


def test_a_rule_broken_in_several_partitions_is_logged_once_with_the_count_and_the_fix(
    world: IngestWorld,
) -> None:
    bad_days = DAYS[2:]
    for day in bad_days:
        world.write_day(
            day, BAD_INPUTS["unseen_category_share_far_over_limit"].plant(world.good_day(day))
        )

    result = _range_ingest(world)

    assert result.success  # the good days went on; the bad ones failed on their own partitions
    fix = (
        "unseen categories: list the levels in validation.allowed_categories or raise "
        "validation.max_unseen_category_share"
    )
    lines = [line for line in _error_lines(result, world.instance) if "broke" in line]
    assert lines == [
        "column 'channel' broke expect_column_values_to_be_in_set in 3 of 5 partitions "
        f"({bad_days[0]} … {bad_days[-1]}) — {fix}"
    ]
    failed = [e for e in _verdicts(result) if not e.passed]
    assert [e.partition for e in failed] == bad_days
    for evaluation in failed:
        assert f"| {evaluation.partition} | channel | expect_column_values_to_be_in_set |" in (
            evaluation.metadata["failures"].value
        )
        assert fix in evaluation.metadata["failures"].value
    for day in DAYS:
        assert world.store_has("validated_events", day) == (day not in bad_days)


def test_a_rule_broken_in_every_partition_is_logged_once_and_every_day_is_refused(
    world: IngestWorld,
) -> None:
    for day in DAYS:
        world.write_day(
            day, BAD_INPUTS["unseen_category_share_far_over_limit"].plant(world.good_day(day))
        )

    result = _range_ingest(world)

    assert not result.success  # no day passed: the blocking check stops the run
    lines = [line for line in _error_lines(result, world.instance) if "broke" in line]
    assert len(lines) == 1
    assert lines[0].startswith(
        "column 'channel' broke expect_column_values_to_be_in_set in 5 of 5 partitions "
        f"({DAYS[0]} … {DAYS[-1]}) — unseen categories:"
    )
    assert [e.partition for e in _verdicts(result) if not e.passed] == DAYS
    assert result.is_node_untouched("validated_events")
    assert not any(world.store_has("validated_events", day) for day in DAYS)


def test_no_log_metadata_or_report_holds_a_value_of_the_id_column(world: IngestWorld) -> None:
    secret_id = 987_654_321
    world.write_day(
        BAD_DAY,
        world.good_day(BAD_DAY).with_columns(
            pl.when(_first_rows(2)).then(pl.lit(secret_id)).otherwise("event_id").alias("event_id")
        ),
    )

    result = world.ingest(BAD_DAY)

    assert not result.success
    texts = [entry.user_message for entry in world.instance.all_logs(result.run_id)]
    for evaluation in result.get_asset_check_evaluations():
        texts += [evaluation.description or "", *map(str, evaluation.metadata.values())]
    for event in result.get_asset_materialization_events():
        texts += map(str, event.materialization.metadata.values())
    texts.append(
        (world.folder / "state" / "reports" / "validation" / f"{BAD_DAY}.json").read_text()
    )
    assert any("expect_column_values_to_be_unique" in text for text in texts)
    assert not [text for text in texts if str(secret_id) in text]


def test_an_empty_day_is_validated_with_zero_rows_when_the_spec_sets_no_minimum(
    tmp_path: Path, make_events, make_file_spec
) -> None:
    events = make_events()
    spec = make_file_spec(
        tmp_path,
        events.filter(~_on_day(DAYS[2])),
        validation={"reference_days": 2, "max_unseen_category_share": 0.05},
    )
    assert spec.validation.min_rows == 0
    defs = ingest_definitions(spec, tmp_path / "state")
    instance = DagsterInstance.ephemeral()
    assert materialize_profile(defs, instance).success

    result = defs.resolve_job_def("ingest_job").execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]},
    )

    assert result.success
    assert all(e.passed for e in _verdicts(result))
    empty = tmp_path / "state" / "data" / "validated_events" / f"{DAYS[2]}.parquet"
    assert pl.read_parquet(empty).height == 0
    assert {
        e.partition: e.materialization.metadata["rows"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey("validated_events")
    }[DAYS[2]] == 0


def test_a_drifting_unseen_share_warns_on_its_day_and_the_day_is_still_validated(
    world: IngestWorld,
) -> None:
    # 4 of 40 rows (10 %) against a limit of 5 %: past the limit, not far past it (15 %)
    world.write_day(
        BAD_DAY,
        world.good_day(BAD_DAY).with_columns(
            pl.when(_first_rows(4)).then(pl.lit("teleport")).otherwise("channel").alias("channel")
        ),
    )

    result = world.ingest(BAD_DAY)

    assert result.success
    (warning,) = _verdicts(result, WARNING_CHECK)
    assert all(e.passed for e in _verdicts(result)) and not warning.passed
    assert warning.severity.value == "WARN" and warning.partition == BAD_DAY
    assert "| channel | expect_column_values_to_be_in_set | unseen_share | False |" in (
        warning.metadata["failures"].value
    )
    assert "teleport" in world.stored("validated_events", BAD_DAY)["channel"].to_list()

    world.write_day(BAD_DAY, world.good_day(BAD_DAY))
    (cleared,) = _verdicts(world.ingest(BAD_DAY), WARNING_CHECK)
    assert cleared.passed and cleared.partition == BAD_DAY  # its warning is cleared


def test_each_check_names_its_rules_and_the_spec_moves_a_rule_between_them(
    tmp_path: Path, make_file_spec
) -> None:
    def rules(spec: DatasetSpec) -> dict[str, set[str]]:
        (raw,) = [
            a for a in ingest_assets(spec, daily_partitions(spec)) if a.key.path == ["raw_events"]
        ]
        return {s.name: set(s.metadata["rules"].split(", ")) for s in raw.check_specs}

    default = rules(make_file_spec(tmp_path, None))
    moved = rules(
        make_file_spec(
            tmp_path, None, validation={"warn_only": ["ids"], "blocking": ["null_share"]}
        )
    )

    assert {"schema", "target_domain", "ids", "event_time", "unseen_share_far"} <= default[
        VALIDATION_CHECK
    ]
    assert default[WARNING_CHECK] == {"null_share", "unseen_share"}
    assert moved[VALIDATION_CHECK] == default[VALIDATION_CHECK] - {"ids"} | {"null_share"}
    assert moved[WARNING_CHECK] == {"ids", "unseen_share"}


def test_a_csv_day_whose_event_times_do_not_parse_fails_unparsed_times_naming_its_file(
    tmp_path: Path, make_events, make_file_spec
) -> None:
    events = make_events()
    (tmp_path / "events").mkdir()
    for day in DAYS:
        events.filter(_on_day(day)).write_csv(tmp_path / "events" / f"{day}.csv")
    spec = make_file_spec(tmp_path, None, source={"kind": "csv", "path": "events"})
    defs = ingest_definitions(spec, tmp_path / "state")
    instance = DagsterInstance.ephemeral()
    assert materialize_profile(defs, instance).success
    # the last day is exported again with a third of its times in another format
    last = events.filter(_on_day(BAD_DAY)).with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(pl.col("event_time").dt.strftime("%d/%m/%Y %H:%M"))
        .otherwise(pl.col("event_time").dt.strftime("%Y-%m-%d %H:%M:%S"))
        .alias("event_time")
    )
    last.write_csv(tmp_path / "events" / f"{BAD_DAY}.csv")

    result = defs.resolve_job_def("ingest_job").execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]},
        raise_on_error=False,
    )

    assert result.success  # the other days went on
    failed = [e for e in _verdicts(result) if not e.passed]
    assert [e.partition for e in failed] == [BAD_DAY]
    assert f"{BAD_DAY}.csv" in failed[0].description and "unparsed_times" in failed[0].description
    assert "| event_time | event_times_parse | unparsed_times | True |" in (
        failed[0].metadata["failures"].value
    )
    data = tmp_path / "state" / "data" / "validated_events"
    assert sorted(p.stem for p in data.glob("*.parquet")) == DAYS[:-1]
