"""Typed step results as JSON that names its type, with their plots as PNG files beside it.

A typed value (one of `TYPED_VALUES`: a step's result with `to_dict`/`from_dict`) is stored as
JSON naming its type and loaded back as that type. Its `plots` (PNG bytes) are written first,
into a folder named by their content next to the JSON, so the JSON that points at them never
points at a missing file. Plot paths are relative to the store's root, so the JSON reads the same
from a run's folder or through the asset's link to the newest run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from binclf.evaluate.steps import Evaluation
from binclf.io.atomic import to_json_safe, write_directory_atomic
from binclf.register.candidate import RegisteredCandidate
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.threshold import ThresholdChoice

TYPED_VALUES: dict[str, type] = {
    kind.__name__: kind
    for kind in (
        SearchOutcome,
        CalibrationOutcome,
        ThresholdChoice,
        Evaluation,
        RegisteredCandidate,
    )
}
TYPE_KEY = "binclf_type"


def is_typed(value: Any) -> bool:
    return isinstance(value, tuple(TYPED_VALUES.values()))


def typed_json(json_path: Path, root: Path, value: Any) -> tuple[dict[str, Any], dict[str, Path]]:
    """The JSON of a typed value, after its plots were written; and where each plot is."""
    plots: Mapping[str, bytes] = getattr(value, "plots", None) or {}
    paths: dict[str, Path] = {}
    if plots:
        digest = hashlib.sha256()
        for name in sorted(plots):
            digest.update(name.encode() + b"\0" + hashlib.sha256(plots[name]).digest())
        folder = json_path.parent / "plots" / f"{json_path.stem}-{digest.hexdigest()[:16]}"
        if not folder.is_dir():
            write_directory_atomic(folder, {f"{name}.png": png for name, png in plots.items()})
        paths = {name: folder / f"{name}.png" for name in plots}
        drop_stale_plots(json_path, {folder})
    data = {
        TYPE_KEY: type(value).__name__,
        "value": to_json_safe(value.to_dict()),
        "plots": {name: path.relative_to(root).as_posix() for name, path in paths.items()},
    }
    return data, paths


def drop_stale_plots(json_path: Path, keep: set[Path]) -> None:
    """Plot folders of this value that its new JSON will no longer point at."""
    plots = json_path.parent / "plots"
    for folder in plots.glob(f"{json_path.stem}-*") if plots.is_dir() else ():
        if folder not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def read_json_value(json_path: Path, root: Path) -> Any:
    """A stored JSON value: a typed value back as its type (with its plots), else plain JSON."""
    data = json.loads(json_path.read_text())
    if not (isinstance(data, dict) and TYPE_KEY in data):
        return data
    value = TYPED_VALUES[data[TYPE_KEY]].from_dict(data["value"])
    if data["plots"]:
        plots = {name: (root / rel).read_bytes() for name, rel in data["plots"].items()}
        value = replace(value, plots=plots)
    return value
