"""A ten-day simulated season keeps every invariant through its faults.

Ten simulated days from a Saturday hold two Monday retrains: the first gets the kill -9
mid-backfill and mid-training, the second the two simultaneous trainings; the corrupt day file
falls on another day.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.season import run_season

SEASON_DAYS = 10


@pytest.mark.season
@pytest.mark.timeout(1800)
def test_ten_day_season_keeps_every_invariant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DAGSTER_HOME", "BINCLF_DATASET", "BINCLF_STATE"):
        monkeypatch.setenv(name, "")  # run_season sets them; restored after the test
    result = run_season(SEASON_DAYS, seed=0, folder=tmp_path, verbose=False)

    broken = {i.name: i.problems for i in result.invariants if not i.held}
    assert not broken, broken
    assert len(result.invariants) == 7
    kinds = " ".join(result.faults)
    assert "corrupt day file" in kinds, result.faults
    assert "two training requests at once" in kinds, result.faults
    assert "kill -9 mid-backfill" in kinds and "kill -9 mid-training" in kinds, result.faults
    assert "NOT marked failed" not in kinds, result.faults
    assert result.days == SEASON_DAYS
    # Each day a daily and a label run; history, two retrains, the faults' own runs on top.
    assert result.runs >= 2 * SEASON_DAYS + 10, result.runs
