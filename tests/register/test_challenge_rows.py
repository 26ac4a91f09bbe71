"""`challenge_champion` compares on the rows `unseen_rows` picks, or refuses and never promotes."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import average_precision_score

from binclf.register import promotion
from binclf.register.gates import GateResult
from binclf.register.unseen_rows import (
    FITTED_UNTIL,
    TRAINED_ROWS_FILE,
    ComparisonRows,
    fitted_until_from_card,
)

GATES = [GateResult("min_roc_auc", True, 0.9, 0.7, "")]


class _Registry:
    """The registry calls `challenge_champion` makes, in memory."""

    def __init__(self, *, keys: bytes | None) -> None:
        self.keys = keys
        self.decisions: list[dict] = []
        self.promoted: list[str] = []

    def champion(self, dataset: str) -> str:
        return "v1"

    def manifest(self, dataset: str, version: str) -> dict:
        return {"files": {TRAINED_ROWS_FILE: "sha"} if self.keys is not None else {}}

    def open_files(self, dataset: str, version: str, names: list[str]) -> dict[str, bytes]:
        return {TRAINED_ROWS_FILE: self.keys}

    def promote(self, dataset, version, *, expected_champion, reason, decision) -> bool:
        self.promoted.append(version)
        return True

    def record_decision(self, dataset: str, version: str, record: dict) -> None:
        self.decisions.append(record)


@pytest.fixture
def scored(monkeypatch):
    """Each version scores a row by its own column of the test frame."""

    def load_version(registry, dataset, version):
        column = {"v1": "champion", "v2": "challenger"}[version]
        probabilities = lambda frame: frame[column].to_numpy()  # noqa: E731
        return SimpleNamespace(bundle=SimpleNamespace(probabilities=probabilities))

    monkeypatch.setattr(promotion, "load_version", load_version)
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.3).astype(np.int8)
    test = pl.DataFrame(
        {
            "challenger": np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 600), 0, 1),
            "champion": np.clip(0.3 + 0.2 * y + rng.normal(0, 0.2, 600), 0, 1),
        }
    )
    return test, y


def test_only_the_picked_rows_are_compared_with_their_weights(scored):
    test, y = scored
    mask = np.arange(len(y)) % 3 != 0
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    seen = []

    def unseen_rows(keys):
        seen.append(keys)
        return ComparisonRows(mask, left_out=int((~mask).sum()))

    registry = _Registry(keys=b"recorded")
    record = promotion.challenge_champion(
        registry, "d", "v2", test, y, gates=GATES, n_boot=50, weights=weights,
        unseen_rows=unseen_rows,
    )  # fmt: skip
    assert seen == [b"recorded"]
    expected = average_precision_score(
        y[mask], test["challenger"].to_numpy()[mask], sample_weight=weights[mask]
    ) - average_precision_score(
        y[mask], test["champion"].to_numpy()[mask], sample_weight=weights[mask]
    )
    assert record["comparison"]["value"] == pytest.approx(expected)
    assert record["compared_rows"] == mask.sum() and record["rows_seen_by_champion"] == 200
    assert record["promote"] and registry.promoted == ["v2"]


def test_a_refused_comparison_rejects_with_its_reason(scored):
    test, y = scored
    registry = _Registry(keys=None)
    refused = promotion.challenge_champion(
        registry, "d", "v2", test, y, gates=GATES, n_boot=50,
        unseen_rows=lambda keys: ComparisonRows(None, f"no keys: {keys}"),
    )  # fmt: skip
    assert not refused["promote"] and registry.promoted == []
    assert refused["reason_codes"] == ["COMPARISON_REFUSED"]
    assert refused["comparison_refused"] == "no keys: None"
    assert refused["comparison"] is None and refused["compared_rows"] == 0
    assert registry.decisions == [refused]


class _OldRegistry(_Registry):
    """A champion registered before trained-row files existed: only its card is there."""

    def __init__(self, card: dict) -> None:
        super().__init__(keys=None)
        self.card = card

    def manifest(self, dataset: str, version: str) -> dict:
        return {"files": {"card.json": "sha"}}

    def open_files(self, dataset: str, version: str, names: list[str]) -> dict[str, bytes]:
        assert names == ["card.json"]
        return {"card.json": json.dumps(self.card).encode()}


def test_a_champion_without_a_trained_rows_file_is_judged_by_its_cards_window(scored):
    test, y = scored
    card = {"splits": {"train": {"end": "2026-01-20T00:00:00+00:00"},
                       "calibration": {"end": "2026-01-31T23:00:00+00:00"}}}  # fmt: skip
    received = []

    def unseen_rows(recorded):
        received.append(recorded)
        return ComparisonRows(None, "refused")

    promotion.challenge_champion(
        _OldRegistry(card), "d", "v2", test, y, gates=GATES, n_boot=20, unseen_rows=unseen_rows
    )
    assert received == [fitted_until_from_card(card)]
    until = pl.read_parquet(io.BytesIO(received[0]))[FITTED_UNTIL].to_list()
    assert until == ["2026-01-31T23:00:00+00:00"]
    snapshot_card = {"splits": {"train": {"rows": 10}}}
    received.clear()
    promotion.challenge_champion(
        _OldRegistry(snapshot_card), "d", "v2", test, y, gates=GATES, unseen_rows=unseen_rows
    )
    assert received == [None]
