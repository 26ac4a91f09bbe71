"""Every training step checks that the results it is handed come from the same training splits.

The steps of one training run read each other's results from that run's folder, but a step run
on its own (one asset re-materialized in the UI, a re-execution) reads the newest stored values,
which can come from different runs. Each result carries the data version of the splits it was
made from (`binclf.train.inputs.data_version`), and a step refuses results made from other splits.
"""

from __future__ import annotations

from collections.abc import Mapping


class InputsMismatchError(ValueError):
    """A step was handed results made from other training splits than its own."""


def require_same_data(step: str, splits_version: str, made_from: Mapping[str, str]) -> None:
    """Raise unless every result in `made_from` (name -> data version) has `splits_version`."""
    stale = {name: version for name, version in made_from.items() if version != splits_version}
    if stale:
        which = ", ".join(
            f"{name} was made from {version or 'splits of unrecorded version'}"
            for name, version in stale.items()
        )
        raise InputsMismatchError(
            f"{step}: the training splits have data version {splits_version}, but {which}; "
            "materialize the training group from training_window (training_job) so every step "
            "works on the same splits"
        )
