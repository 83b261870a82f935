"""Baselines: deal histories before a cutoff, the rule scores, and the BG/NBD fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ghost_model.baselines import (
    BGNBD,
    days_since_last_deal_score,
    deal_history,
    deal_trend_score,
    fit_bgnbd,
    fit_logistic,
    predict_logistic,
)
from ghost_model.errors import ConfigError

TRUE_PARAMS = {"r": 0.8, "alpha": 4.0, "a": 0.8, "b": 2.5}


def simulate_bgnbd(
    n: int,
    params: dict[str, float],
    horizon: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Histories (x, t_x, age) drawn from BG/NBD, plus the deals in the next horizon."""
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    drop = rng.beta(params["a"], params["b"], n)
    age = rng.uniform(30, 80, n)
    x, t_x, future = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > age[i] + horizon:
                break
            if t <= age[i]:
                x[i] += 1
                t_x[i] = t
            else:
                future[i] += 1
            if rng.random() < drop[i]:
                break
    return x, t_x, age, future


@pytest.fixture(scope="module")
def bgnbd_sample() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return simulate_bgnbd(3000, TRUE_PARAMS, 13.0, np.random.default_rng(11))


def test_fit_bgnbd_recovers_parameters_on_simulated_histories(
    bgnbd_sample: tuple[np.ndarray, ...],
) -> None:
    """Check that the maximum-likelihood fit recovers the parameters drawn from."""
    x, t_x, age, _ = bgnbd_sample
    fitted = fit_bgnbd(x, t_x, age)
    assert fitted.r == pytest.approx(TRUE_PARAMS["r"], rel=0.2)
    assert fitted.alpha == pytest.approx(TRUE_PARAMS["alpha"], rel=0.3)
    assert fitted.a == pytest.approx(TRUE_PARAMS["a"], rel=0.35)
    assert fitted.b == pytest.approx(TRUE_PARAMS["b"], rel=0.45)


def test_predict_bgnbd_expected_deals_matches_simulated_future(
    bgnbd_sample: tuple[np.ndarray, ...],
) -> None:
    """Check that expected deals and P(no deal) match what the simulation did next."""
    x, t_x, age, future = bgnbd_sample
    truth = BGNBD(**TRUE_PARAMS)
    expected = truth.expected_deals(13.0, x, t_x, age)
    assert expected.mean() == pytest.approx(future.mean(), rel=0.1)
    busy = x >= 3
    assert expected[busy].mean() == pytest.approx(future[busy].mean(), rel=0.15)
    assert truth.p_no_deal(13.0, x, t_x, age).mean() == pytest.approx(
        (future == 0).mean(), abs=0.03
    )


def test_rank_bgnbd_quiet_partner_below_busy_partner() -> None:
    """Check that a long-quiet history expects fewer deals than a recent busy one."""
    model = BGNBD(**TRUE_PARAMS)
    x = np.array([10.0, 10.0])
    t_x = np.array([20.0, 59.0])
    age = np.array([60.0, 60.0])
    expected = model.expected_deals(13.0, x, t_x, age)
    assert expected[0] < expected[1]
    assert model.p_alive(x, t_x, age)[0] < model.p_alive(x, t_x, age)[1]


def test_fit_bgnbd_rejects_too_few_histories() -> None:
    """Check that fitting on a handful of partners fails with a clear message."""
    with pytest.raises(ConfigError, match="at least 10 partners"):
        fit_bgnbd(np.ones(3), np.ones(3), np.full(3, 5.0))


def test_build_deal_history_counts_only_days_before_cutoff() -> None:
    """Check that history sees deals before the cutoff and none at or after it."""
    at = pd.to_datetime(
        [
            "2024-01-01T10:00",
            "2024-02-20T10:00",
            "2024-03-05T10:00",
            "2024-03-31T23:00",
            "2024-04-01T00:00",
        ]
    ).tz_localize("UTC")
    deals = pd.DataFrame({"partner_id": ["A"] * 5, "registered_at": at})
    cutoff = pd.Timestamp("2024-04-01", tz="UTC")
    keys = pd.DataFrame({"partner_id": ["A", "B"], "as_of": [cutoff, cutoff]})
    history = deal_history(deals, keys, "UTC", window_days=90)
    row = history.iloc[0]
    assert row["days_since_last_deal"] == pytest.approx(1 / 24)
    assert row["deals_recent"] == 3
    assert row["deals_previous"] == 1
    assert row["x"] == 3
    assert row["age"] == pytest.approx(91 / 7)
    assert history.iloc[1].isna().all()


def test_score_rules_rank_quiet_and_falling_partners_higher() -> None:
    """Check that the rule scores rise with quiet time and with a falling count."""
    history = pd.DataFrame(
        {
            "days_since_last_deal": [5.0, 80.0],
            "deals_recent": [6.0, 1.0],
            "deals_previous": [5.0, 6.0],
        }
    )
    quiet = days_since_last_deal_score(history)
    trend = deal_trend_score(history)
    assert quiet[1] > quiet[0]
    assert trend[1] > trend[0]


def test_fit_logistic_handles_missing_and_unseen_categories() -> None:
    """Check that the logistic baseline scores rows with NaN and an unseen tier."""
    rng = np.random.default_rng(0)
    n = 400
    signal = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "signal": np.where(rng.random(n) < 0.1, np.nan, signal),
            "tier": pd.Series(rng.choice(["gold", "silver"], n), dtype="str"),
        }
    )
    label = (signal + rng.normal(scale=0.5, size=n) > 0).astype(int)
    pipeline = fit_logistic(frame, label, ["signal"], ["tier"])
    new = pd.DataFrame(
        {"signal": [2.0, -2.0, np.nan], "tier": pd.Series(["gold", "platinum", None])}
    )
    proba = predict_logistic(pipeline, new, ["signal"], ["tier"])
    assert np.isfinite(proba).all()
    assert proba[0] > proba[1]
