"""Rules on source files: a day's file that cannot be read, and event times that do not parse.

A day-named source's file that cannot be read fails its own day with the `source_file` rule,
always blocking: the file and the problem are in the day's report, the other days go on.

A time that does not parse leaves its row without a day, so no partition holds it and no
partition rule can see it. It is counted per file when the source is read; a file with more
than `validation.max_unparsed_time_share` of such rows breaks the rule on every day it holds
(every day of the run when none of its times parsed), with the file's name and counts.
"""

from __future__ import annotations

from dataclasses import replace

from binclf.ingest.scan import SourceFileError
from binclf.ingest.sources import FileTimes
from binclf.partitions import partition_day
from binclf.spec import DatasetSpec, SpecError
from binclf.validate.report import Failure, ValidationReport
from binclf.validate.rules import blocking_rules

RULE = "event_times_parse"
FIX = 'set time_format in the spec (e.g. time_format: "%Y-%m-%d %H:%M:%S"), or fix the file'
FILE_RULE = "source_file_reads"
FILE_RULE_NAME = "source_file"  # blocks always: an unread file is not an empty day


def unreadable_day(partition: str, error: SourceFileError) -> ValidationReport:
    """The report of a day whose file could not be read: one failure naming file and problem."""
    detail = {"file": error.path.name, "problem": error.problem}
    failure = Failure(partition, None, FILE_RULE, detail, FILE_RULE_NAME, True)
    return ValidationReport(partition, rows=0, evaluated=1, failures=[failure])


def unparsable_files(spec: DatasetSpec, files: list[FileTimes]) -> list[FileTimes]:
    """The files with more unparsed event times than the tolerance allows."""
    share = spec.validation.max_unparsed_time_share
    return [f for f in files if f.unparsed > share * f.rows]


def _holds(file: FileTimes, partition: str) -> bool:
    if file.first_day is None or file.last_day is None:
        return True
    return file.first_day <= partition_day(partition) <= file.last_day


def with_unparsed_times(
    spec: DatasetSpec, reports: list[ValidationReport], files: list[FileTimes]
) -> list[ValidationReport]:
    """The reports, each day held by an unparsable file failing `unparsed_times` for it."""
    bad = unparsable_files(spec, files)
    if not bad:
        return reports
    blocking = "unparsed_times" in blocking_rules(spec)
    judged = []
    for report in reports:
        failures = [
            Failure(
                report.partition,
                spec.time_column,
                RULE,
                {"file": f.path.name, "unparsed": str(f.unparsed), "rows": str(f.rows)},
                "unparsed_times",
                blocking,
            )
            for f in bad
            if _holds(f, report.partition)
        ]
        judged.append(replace(report, failures=[*report.failures, *failures]))
    return judged


def refuse_unparsable_files(spec: DatasetSpec, files: list[FileTimes]) -> None:
    """Raise a `SpecError` naming each unparsable file, when the rule blocks."""
    bad = unparsable_files(spec, files)
    if bad and "unparsed_times" in blocking_rules(spec):
        named = "; ".join(f"{f.path}: {f.unparsed} of {f.rows} event times" for f in bad)
        raise SpecError(
            f"time_column: event times of {spec.time_column!r} do not parse ({named}); {FIX}"
        )
