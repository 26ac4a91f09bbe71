"""Source files: event times that do not parse (counted per file, blocking past a small
tolerance), and a day file that cannot be read (failing its own day)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from binclf.ingest.scan import SourceFileError
from binclf.ingest.sources import FileTimes, event_time_parsing, read_partition
from binclf.spec import DatasetSpec, SpecError, spec_from_dict
from binclf.validate.report import Failure, ValidationReport
from binclf.validate.source_checks import (
    refuse_unparsable_files,
    unreadable_day,
    with_unparsed_times,
)
from binclf.validate.summary import summarize

MIXED = [
    "2024-01-03 08:00:00",
    "03/01/2024 10:00",
    "2024-01-03T10:00:00Z",
    "2024-01-03 11:00:00",
    "2024-01-04 09:30:00",
    "",
]


def _spec(folder: Path, **overrides) -> DatasetSpec:
    data = {
        "name": "mixed",
        "source": {"kind": "csv", "path": "events"},
        "target": "label",
        "positive": "yes",
        "negative": ["no"],
        "time_column": "event_time",
        "partitions": {"start_date": "2024-01-03"},
        **overrides,
    }
    return spec_from_dict(data, base_dir=folder)


def _write(folder: Path, name: str, times: list[str]) -> None:
    (folder / "events").mkdir(exist_ok=True)
    lines = ["event_time,amount,label"] + [f"{t},{i},yes" for i, t in enumerate(times)]
    (folder / "events" / name).write_text("\n".join(lines) + "\n")


def test_mixed_format_times_are_counted_per_file(tmp_path: Path) -> None:
    _write(tmp_path, "a.csv", MIXED)
    _write(tmp_path, "b.csv", ["2024-01-03 12:00:00", "2024-01-04 12:00:00"])

    a, b = event_time_parsing(_spec(tmp_path))

    # the empty value is a missing time, not an unparsed one
    assert (a.path.name, a.rows, a.unparsed) == ("a.csv", 6, 2)
    assert (a.first_day, a.last_day) == (date(2024, 1, 3), date(2024, 1, 4))
    assert (b.path.name, b.rows, b.unparsed) == ("b.csv", 2, 0)


def test_a_file_past_the_tolerance_is_a_spec_error_naming_it_and_time_format(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "a.csv", MIXED)
    spec = _spec(tmp_path)

    with pytest.raises(SpecError, match=r"a\.csv: 2 of 6 event times.*time_format"):
        refuse_unparsable_files(spec, event_time_parsing(spec))


def test_the_days_a_bad_file_holds_fail_unparsed_times_and_other_days_do_not(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "a.csv", MIXED)
    spec = _spec(tmp_path)
    reports = [ValidationReport(d, 1, 1, []) for d in ("2024-01-03", "2024-01-04", "2024-01-05")]

    judged = with_unparsed_times(spec, reports, event_time_parsing(spec))

    assert [r.success for r in judged] == [False, False, True]
    (failure,) = judged[0].failures
    assert (failure.name, failure.column, failure.blocking) == (
        "unparsed_times",
        "event_time",
        True,
    )
    assert failure.detail == {"file": "a.csv", "unparsed": "2", "rows": "6"}


def test_the_rule_can_be_made_a_warning(tmp_path: Path) -> None:
    _write(tmp_path, "a.csv", MIXED)
    spec = _spec(tmp_path, validation={"warn_only": ["unparsed_times"]})
    files = event_time_parsing(spec)

    refuse_unparsable_files(spec, files)  # no error
    (report,) = with_unparsed_times(spec, [ValidationReport("2024-01-03", 1, 1, [])], files)
    assert report.success and report.warnings[0].name == "unparsed_times"


def test_a_small_share_of_unparsed_times_is_tolerated(tmp_path: Path) -> None:
    good = [f"2024-01-03 {h:02d}:{m:02d}:00" for h in range(24) for m in range(60)]
    _write(tmp_path, "a.csv", [*good, "not a time"])
    spec = _spec(tmp_path)
    (file,) = event_time_parsing(spec)

    assert file.unparsed == 1 and file.rows == 1441  # 0.07 % against a tolerance of 0.1 %
    refuse_unparsable_files(spec, [file])
    assert with_unparsed_times(spec, [ValidationReport("2024-01-03", 1, 1, [])], [file])[0].success


def test_time_format_parses_what_inference_cannot(tmp_path: Path) -> None:
    day_first = ["03/01/2024 08:00", "03/01/2024 10:00", "04/01/2024 09:30"]
    _write(tmp_path, "a.csv", day_first)
    spec = _spec(tmp_path, time_format="%d/%m/%Y %H:%M")

    (file,) = event_time_parsing(spec)

    assert file.unparsed == 0 and file.first_day == date(2024, 1, 3)
    assert read_partition(spec, "2024-01-03")["amount"].to_list() == [0, 1]


def test_file_times_of_a_file_without_parsed_times_hold_every_day() -> None:
    spec = spec_from_dict(
        {
            "name": "x",
            "source": {"kind": "csv", "path": "x.csv"},
            "target": "y",
            "positive": 1,
            "time_column": "t",
        }
    )
    nothing = FileTimes(Path("x.csv"), 3, 3, None, None)
    reports = [ValidationReport("2030-05-05", 0, 1, [])]
    assert not with_unparsed_times(spec, reports, [nothing])[0].success


def test_an_unreadable_day_file_fails_its_day_with_the_file_and_problem_and_a_fix(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path)
    error = SourceFileError(
        "source.path", tmp_path / "2024-01-03.csv", "cannot be read (empty CSV)", "replace it"
    )

    report = unreadable_day("2024-01-03", error)
    (rule,) = summarize(spec, [report])

    assert not report.success
    assert report.failures[0].detail == {"file": "2024-01-03.csv", "problem": error.problem}
    assert "2024-01-03.csv" in report.summary()
    assert "empty CSV" in report.summary()
    assert rule.blocking
    assert "replace it, then ingest the day again" in rule.describe()


def test_a_table_level_rule_gets_its_own_fix_when_the_spec_has_no_id_column(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path)
    assert spec.id_column is None
    failure = Failure("2024-01-03", None, "event_times_parse", {"unparsed": 4})
    report = ValidationReport("2024-01-03", 10, 1, [failure])

    (rule,) = summarize(spec, [report])

    assert "set time_format in the spec" in rule.fix
    assert "ids must be" not in rule.fix
