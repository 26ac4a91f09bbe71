"""SLO budgets and burn rates against hand-computed values; spec errors name the key."""

from datetime import date, timedelta

import numpy as np
import pytest

from binclf.monitor.estimation import partition_performance
from binclf.monitor.slo import (
    SliObservation,
    burn_rules,
    observation_from_performance,
    slo_status,
)
from binclf.monitor.slo_defaults import default_slos
from binclf.spec import SloDefinition, SpecError, spec_from_dict

START = date(2026, 3, 1)
BASE = {
    "name": "d",
    "source": {"kind": "synthetic"},
    "target": "y",
    "positive": 1,
    "time_column": "t",
}


def _series(bad_per_day, valid=100.0):
    days = [START + timedelta(days=i) for i in range(len(bad_per_day))]
    return [SliObservation(d, float(b), valid) for d, b in zip(days, bad_per_day, strict=True)]


def test_burn_rates_and_remaining_budget_match_hand_computed_values():
    slo = SloDefinition(name="recall", sli="recall", objective=0.9, window_days=28)
    observations = _series([10] * 25 + [60] * 3)
    status = slo_status(slo, observations, as_of=START + timedelta(days=27))
    fast, slow = status.burns
    assert status.allowed_error_rate == pytest.approx(0.1)
    assert fast.short_burn == pytest.approx(6.0) and fast.long_burn == pytest.approx(6.0)
    assert slow.short_burn == pytest.approx(6.0)
    assert slow.long_burn == pytest.approx((4 * 10 + 3 * 60) / 700 / 0.1)
    assert status.budget_spent == pytest.approx(430 / 280)
    assert status.remaining_budget == pytest.approx(1 - 430 / 280)
    assert status.sli_value == pytest.approx(1 - 430 / 2800)
    assert fast.firing and slow.firing and status.severity == "page"


def test_slow_burn_opens_a_ticket_but_does_not_page():
    slo = SloDefinition(name="fpr", sli="false_positive_rate", objective=0.01, min_volume=0)
    status = slo_status(slo, _series([3] * 28), as_of=START + timedelta(days=27))
    assert [b.short_burn for b in status.burns] == pytest.approx([3.0, 3.0])
    assert status.severity == "ticket"
    assert status.remaining_budget == pytest.approx(1 - 3.0)


def test_rules_are_scaled_to_the_window():
    fast, slow = burn_rules(28)
    assert (fast.short_days, fast.long_days, fast.factor) == (1, 3, pytest.approx(28 / 6))
    assert (slow.short_days, slow.long_days, slow.factor) == (3, 7, pytest.approx(2.0))


def test_volume_gate_keeps_thin_windows_quiet():
    slo = SloDefinition(name="recall", sli="recall", objective=0.9, min_volume=50)
    status = slo_status(slo, _series([5] * 10, valid=5), as_of=START + timedelta(days=9))
    assert all(b.long_burn is None for b in status.burns) and status.severity is None
    assert status.sli_value == 0.0


@pytest.mark.parametrize("sli", ["recall", "precision", "false_positive_rate"])
def test_a_met_slo_never_alerts_over_100_noisy_days_at_its_volume_gate(sli):
    rng = np.random.default_rng(42)
    objective = {"recall": 0.85, "precision": 0.3, "false_positive_rate": 0.02}[sli]
    slo = SloDefinition(name=sli, sli=sli, objective=objective)
    gate = {"recall": 30, "precision": 30, "false_positive_rate": 1000}[sli]
    error_rate = 1 - objective if sli != "false_positive_rate" else objective
    bad = rng.binomial(gate, error_rate, size=130)
    observations = _series(bad, valid=gate)
    alerts = [
        slo_status(slo, observations, as_of=START + timedelta(days=d)).severity
        for d in range(30, 130)
    ]
    assert alerts == [None] * 100


def test_observations_from_estimated_performance():
    p = np.array([0.9, 0.6, 0.2, 0.05])
    performance = partition_performance(p, 0.5, n_sim=20)
    slo = SloDefinition(name="r", sli="recall", objective=0.8)
    obs = observation_from_performance(slo, START, performance, costs=(1, 10))
    assert obs.kind == "estimated"
    assert obs.bad == pytest.approx(0.25) and obs.valid == pytest.approx(1.75)


def _card(*, precision, rows=21_000, prevalence=0.02):
    return {
        "splits": {
            "test": {"rows": rows, "prevalence": prevalence, "start": "2026-03-01T00:00:00",
                     "end": "2026-03-15T00:00:00"}
        },
        "test_metrics": {
            "recall": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9},
            "precision": {"value": precision, "ci_low": precision - 0.05, "ci_high": 0.9},
            "fpr": {"value": 0.05, "ci_low": 0.04, "ci_high": 0.06},
            "ece": {"value": 0.01, "ci_low": 0.005, "ci_high": 0.02},
        },
    }  # fmt: skip


def test_defaults_keep_a_margin_from_the_card_interval():
    defaults = default_slos(_card(precision=0.2), min_label_coverage=0.8)
    slos = {s.sli: s.objective for s in defaults.slos}
    # allowed error = 1.25 x the pessimistic end: FNR 1.25 x 0.3, FPR 1.25 x 0.06
    assert slos["recall"] == pytest.approx(0.625) and slos["false_positive_rate"] == 0.075
    assert slos["ece"] == 0.05 and slos["label_coverage"] == 0.8
    assert slos["scoring_freshness"] == 6
    # precision 0.15 at worst: 1.25 x 0.85 leaves no error rate below 1
    assert "precision" not in slos and "no room" in defaults.skipped["precision"]


def test_a_model_performing_as_tested_meets_its_default_slos_with_budget_left():
    defaults = default_slos(_card(precision=0.2), min_label_coverage=0.8)
    fpr = next(s for s in defaults.slos if s.sli == "false_positive_rate")
    days = [SliObservation(START + timedelta(days=i), 50.0, 1000.0) for i in range(28)]
    status = slo_status(fpr, days, as_of=days[-1].day)  # FPR 0.05, the card's point value
    assert status.severity is None
    assert status.remaining_budget == pytest.approx(1 - 0.05 / 0.075)


def test_defaults_leave_out_slos_that_could_never_alert_and_say_why():
    rare = default_slos(_card(precision=0.3), min_label_coverage=0.8)
    assert "cannot reach 2x" in rare.skipped["precision"]  # FDR 1.25 x 0.75 > 1/2
    thin = default_slos(_card(precision=0.2, rows=280), min_label_coverage=0.8)
    assert {"recall", "false_positive_rate"} <= set(thin.skipped)
    assert "volume gate" in thin.skipped["recall"]
    assert all(s.sli not in thin.skipped for s in thin.slos)


def test_spec_accepts_slos_and_bad_keys_are_errors_naming_the_key():
    spec = spec_from_dict(
        {**BASE, "slos": [{"name": "r", "sli": "recall", "objective": 0.85, "window_days": 28}]}
    )
    assert spec.slos[0].objective == 0.85
    with pytest.raises(SpecError, match=r"slos\.0\.sli"):
        spec_from_dict({**BASE, "slos": [{"name": "r", "sli": "accuracy", "objective": 0.8}]})
    with pytest.raises(SpecError, match=r"slos\.0"):
        spec_from_dict({**BASE, "slos": [{"name": "r", "sli": "recall", "objective": 1.5}]})
    with pytest.raises(SpecError, match=r"slos\.0\.objektive"):
        spec_from_dict({**BASE, "slos": [{"name": "r", "sli": "recall", "objektive": 0.8}]})
