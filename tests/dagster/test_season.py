"""A short simulated season keeps every invariant through its faults.

Two simulated days (a Saturday and a Sunday, so the Monday retrain is in): the corrupt day file,
the kill -9 mid-backfill and mid-training and the two simultaneous trainings all happen in them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.season import run_season

SEASON_DAYS = 2


@pytest.mark.season
@pytest.mark.timeout(1800)
def test_short_season_keeps_every_invariant(
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
    assert result.runs >= 12
