"""The `{date}` placeholder of a day-named source path: parsing, naming and finding day files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from binclf.spec import SpecError, spec_from_dict
from binclf.spec_paths import DayFiles


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("events/{date}.csv", "events/2024-03-09.csv"),
        ("events/{date:%Y%m%d}.csv", "events/20240309.csv"),
        ("{date:%Y/%m/%d}/part.parquet", "2024/03/09/part.parquet"),
        ("day_{date:%d.%m.%Y}_v1.csv", "day_09.03.2024_v1.csv"),
    ],
)
def test_a_placeholder_names_one_file_per_day_and_the_name_gives_the_day_back(
    path: str, name: str
) -> None:
    template = DayFiles.parse(path)

    assert template is not None
    assert template.name_of(date(2024, 3, 9)) == name
    assert template.day_of(name) == date(2024, 3, 9)


@pytest.mark.parametrize(
    "name",
    ["events/2024-3-9.csv", "events/2024-03-09.parquet", "other/2024-03-09.csv", "events/x.csv"],
)
def test_a_name_that_is_not_exactly_a_day_file_has_no_day(name: str) -> None:
    template = DayFiles.parse("events/{date}.csv")

    assert template is not None
    assert template.day_of(name) is None


@pytest.mark.parametrize("path", ["events.csv", "events/", "events/*.csv", "2024-{x}.csv"])
def test_a_path_without_placeholder_is_not_day_named(path: str) -> None:
    assert DayFiles.parse(path) is None


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("events/{date:%Y-%m}.csv", "does not name one day"),
        ("events/{date:%d}.csv", "does not name one day"),
        ("{date:%Y}/{date:%m%d}.csv", "2 {date} placeholders"),
        ("events*/{date}.csv", "cannot also be a glob"),
        ("events/{date:}.csv", "write the day as"),
        ("events/{dates}.csv", "write the day as"),
    ],
)
def test_a_placeholder_that_cannot_name_one_file_a_day_is_a_spec_error_on_source_path(
    make_spec_dict, path: str, message: str
) -> None:
    with pytest.raises(SpecError, match=rf"source\.path: .*{message}"):
        spec_from_dict(make_spec_dict(source={"kind": "csv", "path": path}))


def test_a_day_named_source_without_time_column_is_a_spec_error(make_spec_dict) -> None:
    data = make_spec_dict(source={"kind": "csv", "path": "events/{date}.csv"})
    data.pop("time_column")

    with pytest.raises(SpecError, match=r"a file per \{date\} needs time_column"):
        spec_from_dict(data)


def test_day_files_are_found_by_name_relative_to_the_spec_folder(
    tmp_path: Path, make_spec_dict
) -> None:
    for name in ("20240102.csv", "20240101.csv", "2024010.csv", "notes.csv", "20240230.csv"):
        (tmp_path / "events" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "events" / name).write_text("x\n1\n")
    (tmp_path / "events" / "20240103.csv").mkdir()  # a folder is not a day file
    spec = spec_from_dict(
        make_spec_dict(source={"kind": "csv", "path": "events/{date:%Y%m%d}.csv"}),
        base_dir=tmp_path,
    )
    assert spec.source.kind == "csv"

    found = spec.source.day_paths(tmp_path)  # type: ignore[union-attr]

    assert found == {
        date(2024, 1, 1): tmp_path / "events" / "20240101.csv",
        date(2024, 1, 2): tmp_path / "events" / "20240102.csv",
    }
    assert list(found.values()) == spec.source.resolved_paths(tmp_path)  # type: ignore[union-attr]


def test_day_files_in_dated_folders_are_found_by_an_absolute_path(tmp_path: Path) -> None:
    template = DayFiles.parse(str(tmp_path / "{date:%Y/%m/%d}.parquet"))
    assert template is not None
    for day in (date(2024, 12, 31), date(2025, 1, 1)):
        path = Path(template.name_of(day))
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")

    assert list(template.existing()) == [date(2024, 12, 31), date(2025, 1, 1)]
