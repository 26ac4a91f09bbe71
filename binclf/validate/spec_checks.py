"""Checks of the spec against the reference rows, before any partition is judged or model fit.

Each problem is a `SpecError` that names the key, the value and the fix, so a misspelled column
or a YAML boolean stops the profile instead of surfacing late as a raw error or a silent flip.
"""

from __future__ import annotations

import polars as pl

from binclf.spec import DatasetSpec, SpecError


def _named_columns(spec: DatasetSpec) -> dict[str, str]:
    """Every column the spec names, with the key that names it."""
    named = {
        "target": spec.target,
        "id_column": spec.id_column,
        "time_column": spec.time_column,
        "label_time_column": spec.label_time_column,
        "split_column": spec.split_column,
        "weight_column": spec.weight_column,
    }
    columns = {column: key for key, column in named.items() if column}
    for key, names in (
        ("sensitive", spec.sensitive),
        ("slices", spec.slices),
        ("categorical", spec.categorical),
        ("features.include", spec.features.include or []),
    ):
        columns.update({column: key for column in names if column not in columns})
    return columns


def _target_problems(reference: pl.DataFrame, spec: DatasetSpec) -> list[str]:
    target = reference[spec.target]
    values = target.drop_nulls().unique().to_list()
    problems = []
    wanted = [spec.positive, *(spec.negative or [])]
    if target.dtype == pl.String and any(isinstance(v, bool) for v in wanted):
        problems.append(
            f"positive/negative: {wanted!r} holds a YAML boolean (unquoted yes/no/true/false) "
            f'but {spec.target!r} holds text; quote the values, e.g. positive: "yes"'
        )
    elif target.dtype.is_numeric() and any(isinstance(v, str) for v in wanted):
        problems.append(
            f"positive/negative: {wanted!r} is text but {spec.target!r} is numeric; "
            "write the numbers unquoted, e.g. positive: 1"
        )
    if spec.negative is None and isinstance(spec.positive, str):
        near = sorted(
            str(v)
            for v in values
            if isinstance(v, str)
            and v != spec.positive
            and v.strip().casefold() == spec.positive.strip().casefold()
        )
        if near:
            problems.append(
                f"positive: {spec.target!r} holds {near!r}, which differ from positive "
                f"{spec.positive!r} only by case or spaces and would count as negatives; list "
                "the negatives in negative: or clean the source"
            )
    return problems


def check_spec_against(reference: pl.DataFrame, spec: DatasetSpec, *, where: str) -> None:
    """Raise a `SpecError` naming every spec key that does not fit the reference rows."""
    missing = [
        f"{key}: column {column!r} is not in the data"
        for column, key in _named_columns(spec).items()
        if column not in reference.columns
    ]
    target_known = spec.target in reference.columns
    problems = missing + (_target_problems(reference, spec) if target_known else [])
    if problems:
        columns = ", ".join(reference.columns)
        raise SpecError(f"dataset spec does not fit {where} ({columns}): " + "; ".join(problems))
