"""An evidently data-drift HTML report of a partition against the reference, for people to read.

The alarm comes from `binclf.drift` (sample-size aware, fast); this report is the visual
companion. It runs on a random sample of each frame, since evidently is slow on large data, and
leaves out excluded (sensitive) columns entirely: they are dropped before evidently sees the data.
evidently is imported inside the function because importing it takes seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from binclf.stats.profiles import DriftInputError


def evidently_drift_html(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    exclude: Sequence[str] = (),
    sample_rows: int = 20_000,
    seed: int = 0,
) -> str:
    """Standalone HTML of evidently's `DataDriftPreset` on up to `sample_rows` rows of each frame.

    Column roles are given explicitly (evidently would otherwise take integer columns with few
    values as categorical). Columns in `exclude` are left out of the report.
    """
    if sample_rows < 1:
        raise DriftInputError(f"sample_rows must be at least 1, got {sample_rows}")
    excluded = set(exclude)
    numeric_kept = [c for c in numeric if c not in excluded]
    categorical_kept = [c for c in categorical if c not in excluded]
    columns = numeric_kept + categorical_kept
    if not columns:
        raise DriftInputError("no column left to report after excluding " + str(sorted(excluded)))
    for name, frame in (("reference", reference), ("current", current)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DriftInputError(f"columns missing from the {name} frame: {missing}")
        if frame.height == 0:
            raise DriftInputError(f"the {name} frame has no rows")

    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=numeric_kept, categorical_columns=categorical_kept
    )

    def dataset(frame: pl.DataFrame) -> Dataset:
        sample = frame.sample(n=sample_rows, seed=seed) if frame.height > sample_rows else frame
        return Dataset.from_pandas(sample.select(columns).to_pandas(), data_definition=definition)

    snapshot = Report([DataDriftPreset()]).run(
        current_data=dataset(current), reference_data=dataset(reference)
    )
    return snapshot.get_html_str(as_iframe=False)
