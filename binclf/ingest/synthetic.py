"""Synthetic card-transaction events: the built-in demo data.

Each day is generated on its own from `(seed, day)`, so any partition can be produced without the
others and 10M-row benchmarks never hold more than one day at a time. The stream has 1-3 %
positives, nulls, labels that arrive days later (some never), a sensitive attribute with a mild
group difference, and a change point after which both the feature distributions and the
feature-to-label relation move (`change_strength` scales how far the amounts and the number of
transactions per card shift).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from binclf.spec import SyntheticSource

MERCHANT_CATEGORIES = [
    "grocery", "fuel", "restaurants", "online_retail", "travel", "electronics",
    "gaming", "jewelry", "pharmacy", "utilities", "entertainment", "cash_advance",
]  # fmt: skip
MERCHANT_WEIGHTS = np.array([22, 12, 14, 14, 5, 6, 4, 2, 6, 7, 6, 2], dtype=float)
MERCHANT_RISK = np.array([-0.6, -0.4, -0.5, 0.3, 0.4, 0.9, 0.8, 1.1, -0.5, -0.9, 0.0, 1.2])
COUNTRIES = ["US", "CA", "MX", "GB", "DE", "FR", "BR", "NG", "IN", "CN"]
COUNTRY_WEIGHTS = np.array([80, 5, 3, 3, 2, 2, 1.5, 1, 1.5, 1], dtype=float)
COUNTRY_RISK = np.array([-0.3, 0.0, 0.5, 0.2, 0.2, 0.2, 0.8, 1.3, 0.7, 0.6])
CHANNELS = ["pos", "online", "contactless", "atm"]
CHANNEL_WEIGHTS = np.array([45, 30, 20, 5], dtype=float)
CHANNEL_RISK = np.array([-0.4, 0.5, -0.2, 0.3])
AGE_GROUPS = ["18-25", "26-40", "41-60", "60+"]
AGE_WEIGHTS = np.array([18, 35, 32, 15], dtype=float)
AGE_RISK = np.array([0.35, 0.0, -0.1, 0.15])  # the mild group difference
REGIONS = ["north", "south", "east", "west"]

NEVER_LABELED_SHARE = 0.04
LABEL_DELAY_MEDIAN_DAYS = 4.0


def _rng(seed: int, day_index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, day_index]))


def _choice(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    return rng.choice(len(weights), size=n, p=weights / weights.sum())


def _intercept_for_rate(linear: np.ndarray, rate: float) -> float:
    """The intercept that makes the mean of sigmoid(intercept + linear) equal `rate`."""
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = (low + high) / 2
        mean = float(np.mean(1.0 / (1.0 + np.exp(-(mid + linear)))))
        low, high = (mid, high) if mean < rate else (low, mid)
    return (low + high) / 2


def demo_end(source: SyntheticSource) -> datetime:
    """The moment the demo stream is observed: the end of its last day (UTC)."""
    last = source.start_date + timedelta(days=source.days)
    return datetime(last.year, last.month, last.day, tzinfo=UTC)


def generate_day(
    source: SyntheticSource, day: date, *, as_of: datetime | None = None
) -> pl.DataFrame:
    """Events of one day; labels known after `as_of` (default: the demo's end) are null."""
    day_index = (day - source.start_date).days
    rng = _rng(source.seed, day_index)
    weekly = 1.0 + 0.15 * np.sin(2 * np.pi * day_index / 7)
    n = int(rng.poisson(source.rows_per_day * weekly)) if source.rows_per_day > 1 else 1
    drifted = source.change_point_day is not None and day_index >= source.change_point_day
    shift = source.change_strength if drifted else 0.0  # larger amounts, more transactions

    merchant = _choice(rng, n, MERCHANT_WEIGHTS)
    country = _choice(rng, n, COUNTRY_WEIGHTS)
    channel_weights = np.array([30, 45, 22, 3.0]) if drifted else CHANNEL_WEIGHTS
    channel = _choice(rng, n, channel_weights)
    age_group = _choice(rng, n, AGE_WEIGHTS)
    region = rng.integers(0, len(REGIONS), n)
    hour = (rng.normal(14, 5, n).round() % 24).astype(np.int32)
    amount = rng.lognormal(3.4 + 0.35 * shift, 1.0, n)
    account_age_days = rng.exponential(900, n).astype(np.int32)
    txn_count_24h = rng.poisson(2.0 + 1.0 * shift, n).astype(np.int32)
    txn_count_7d = txn_count_24h + rng.poisson(9.0, n).astype(np.int32)
    distance_km = rng.lognormal(2.0, 1.3, n)
    device_trust = rng.beta(5, 2, n)

    night = ((hour <= 5) | (hour >= 23)).astype(float)
    linear = (
        MERCHANT_RISK[merchant]
        + COUNTRY_RISK[country]
        + CHANNEL_RISK[channel]
        + AGE_RISK[age_group]
        + 0.8 * night
        - 0.6 * np.log1p(account_age_days / 30)
        + 0.35 * np.minimum(txn_count_24h, 10)
        + 0.35 * np.log1p(distance_km)
        - 2.0 * device_trust
    )
    if drifted:  # card testing: small contactless amounts become the risky pattern
        linear += -0.45 * np.log(amount) + 1.4 * (channel == 2)
    else:
        linear += 0.45 * np.log(amount)
    rate = source.positive_rate * (1.3 if drifted else 1.0)
    probability = 1.0 / (1.0 + np.exp(-(_intercept_for_rate(linear, rate) + linear)))
    label = rng.random(n) < probability

    # Nulls as a real feed has them: distance unknown for online, trust unknown for pos.
    distance_null = rng.random(n) < np.where(channel == 1, 0.25, 0.03)
    trust_null = rng.random(n) < np.where(channel == 1, 0.02, 0.4)

    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 86_400, n))
    event_time = np.datetime64(day_start.replace(tzinfo=None), "us") + seconds.astype(
        "timedelta64[s]"
    )
    delay_days = rng.lognormal(np.log(LABEL_DELAY_MEDIAN_DAYS), 0.7, n).clip(0.2, 60)
    label_time = event_time + (delay_days * 86_400e6).astype("timedelta64[us]")
    observed_at = np.datetime64((as_of or demo_end(source)).replace(tzinfo=None), "us")
    known = (rng.random(n) >= NEVER_LABELED_SHARE) & (label_time <= observed_at)

    ids = [f"t{source.seed}-{day_index:05d}-{i:07d}" for i in range(n)]
    return pl.DataFrame(
        {
            "transaction_id": ids,
            "event_time": pl.Series(event_time).dt.replace_time_zone("UTC"),
            "label_time": pl.Series(
                np.where(known, label_time, np.datetime64("NaT"))
            ).dt.replace_time_zone("UTC"),
            "is_fraud": pl.Series(np.where(known, label.astype(np.int8), 0)).cast(pl.Int8),
            "amount": amount.round(2),
            "merchant_category": np.array(MERCHANT_CATEGORIES)[merchant],
            "country": np.array(COUNTRIES)[country],
            "channel": np.array(CHANNELS)[channel],
            "hour": hour,
            "account_age_days": account_age_days,
            "txn_count_24h": txn_count_24h,
            "txn_count_7d": txn_count_7d,
            "distance_from_home_km": np.where(distance_null, np.nan, distance_km.round(1)),
            "device_trust_score": np.where(trust_null, np.nan, device_trust.round(3)),
            "customer_age_group": np.array(AGE_GROUPS)[age_group],
            "region": np.array(REGIONS)[region],
        }
    ).with_columns(
        pl.when(pl.Series(known)).then(pl.col("is_fraud")).otherwise(None).alias("is_fraud"),
        pl.col("distance_from_home_km").fill_nan(None),
        pl.col("device_trust_score").fill_nan(None),
    )
