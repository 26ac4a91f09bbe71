"""The outcome of validating a partition: its broken rules, and their stored JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PartitionValidationError(ValueError):
    """A partition that broke blocking validation rules."""


@dataclass(frozen=True)
class Failure:
    """One broken rule in one partition."""

    partition: str
    column: str | None
    rule: str
    detail: dict[str, Any]
    name: str = ""  # the rule's name (binclf.validate.rules); reports before names had none
    blocking: bool = True

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        counts = ", ".join(f"{k}={v}" for k, v in self.detail.items())
        named = f" [{self.name}]" if self.name else ""
        return f"partition {self.partition}: {where} broke {self.rule} ({counts}){named}"


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one partition."""

    partition: str
    rows: int
    evaluated: int
    failures: list[Failure]

    @property
    def success(self) -> bool:
        """No blocking rule broken: the day may be used (warnings aside)."""
        return not any(f.blocking for f in self.failures)

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if not f.blocking]

    def summary(self, *, blocking: bool = True) -> str:
        """The broken blocking rules (or, with `blocking=False`, the warnings)."""
        broken = [f for f in self.failures if f.blocking == blocking]
        if not broken:
            return f"partition {self.partition}: {self.evaluated} rules passed on {self.rows} rows"
        return "; ".join(f.describe() for f in broken)

    def failures_table(self) -> list[dict[str, Any]]:
        return [
            {
                "partition": f.partition,
                "column": f.column or "",
                "rule": f.rule,
                "name": f.name,
                "blocks": f.blocking,
                **f.detail,
            }
            for f in self.failures
        ]


def drop_near_duplicates(failures: list[Failure]) -> list[Failure]:
    """A rate far past its bound is also past the bound itself: keep only the far rule."""
    far = {(f.column, f.name.removesuffix("_far")) for f in failures if f.name.endswith("_far")}
    return [f for f in failures if (f.column, f.name) not in far]


def report_to_dict(report: ValidationReport) -> dict[str, Any]:
    """A JSON-ready form of a report, kept beside the partition it judges."""
    return {
        "partition": report.partition,
        "rows": report.rows,
        "evaluated": report.evaluated,
        "failures": [
            {
                "column": f.column,
                "rule": f.rule,
                "detail": f.detail,
                "name": f.name,
                "blocking": f.blocking,
            }
            for f in report.failures
        ],
    }


def report_from_dict(data: dict[str, Any]) -> ValidationReport:
    return ValidationReport(
        partition=data["partition"],
        rows=data["rows"],
        evaluated=data["evaluated"],
        failures=[Failure(partition=data["partition"], **f) for f in data["failures"]],
    )
