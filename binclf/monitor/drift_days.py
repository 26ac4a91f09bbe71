"""Drift of each day of a run, measured against the version that scored that day.

A run over a range reads one day at a time (its frame is freed before the next is read) and loads
each scoring version once, however many days it scored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from binclf.monitor.drift import DriftResult, drift_statistics
from binclf.register.loading import ServingModel

HtmlReport = Callable[[str, ServingModel, pl.DataFrame, DriftResult], str]


@dataclass(frozen=True)
class DayDrift:
    """One day's drift, the version it was measured against, and its HTML report if written."""

    partition_key: str
    model_version: str
    result: DriftResult
    html_report: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stored form: the drift result with the version and report beside it."""
        stored = {**self.result.to_dict(), "model_version": self.model_version}
        if self.html_report is not None:
            stored["html_report"] = self.html_report
        return stored


class VersionCache:
    """Each model version loaded (and verified) once per run."""

    def __init__(self, load: Callable[[str], ServingModel]) -> None:
        self._load = load
        self._models: dict[str, ServingModel] = {}

    def __call__(self, version: str) -> ServingModel:
        if version not in self._models:
            self._models[version] = self._load(version)
        return self._models[version]


def scoring_version(frame: pl.DataFrame, partition_key: str) -> str:
    """The one version that scored a day; a day scored by several versions is an error."""
    versions = frame["model_version"].unique().to_list()
    if len(versions) != 1:
        raise ValueError(
            f"partition {partition_key}: column model_version holds {len(versions)} versions "
            f"({versions[:5]}); re-score the day so that one version scored all of it"
        )
    return str(versions[0])


def drift_by_day(
    scores: Mapping[str, pl.LazyFrame],
    models: VersionCache,
    *,
    alpha: float,
    min_effect: float,
    share_threshold: float,
    html_for: Callable[[str, DriftResult], bool] = lambda key, result: False,
    html_report: HtmlReport | None = None,
) -> Iterator[DayDrift]:
    """Each day's drift against its scoring version's reference, in partition order."""
    for key in sorted(scores):
        frame = scores[key].collect()
        if frame.height == 0:  # a day without events: nothing drifted, no version scored it
            empty = DriftResult((), None, 0.0, False, 0, alpha, min_effect, share_threshold)
            yield DayDrift(key, "", empty)
            continue
        version = scoring_version(frame, key)
        model = models(version)
        result = drift_statistics(
            model.reference,
            frame,
            alpha=alpha,
            min_effect=min_effect,
            share_threshold=share_threshold,
        )
        wanted = html_report is not None and html_for(key, result)
        report = html_report(key, model, frame, result) if html_report and wanted else None
        yield DayDrift(key, version, result, report)
