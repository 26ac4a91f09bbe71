"""Warm start: a retrain's study begins with the configurations that won before.

The champion was found by a study in the same storage; its best trial and the next best
completed trials are enqueued first in the new study, so a weekly retrain re-scores what worked
on the new rows before it explores. Points of families the search no longer runs are left out,
and a point equal to an earlier one is enqueued once.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

WARM_START_TRIALS = 4


def warm_start_points(
    storage: Any, source_study: str, families: tuple[str, ...], *, top: int = WARM_START_TRIALS
) -> list[dict[str, Any]]:
    """The best trial of `source_study` and the next best completed ones, at most `top` in all.

    Nothing when the source study is not in `storage` (e.g. the champion came from another
    storage) or has no completed trial.
    """
    import optuna

    try:
        source = optuna.load_study(study_name=source_study, storage=storage)
    except KeyError:
        logger.warning("warm start: study %r is not in this storage; starting cold", source_study)
        return []
    completed = [
        t
        for t in source.get_trials(deepcopy=False)
        if t.state.name == "COMPLETE" and t.params.get("family") in families
    ]
    sign = -1.0 if source.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    completed.sort(key=lambda t: (sign * t.value, t.number))
    points: list[dict[str, Any]] = []
    for trial in completed:
        if dict(trial.params) not in points:
            points.append(dict(trial.params))
        if len(points) == top:
            break
    return points
