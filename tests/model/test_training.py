"""Model behaviour: fit, calibration, directions, encoding, backtest folds, lead time.

The data is a small seeded world built here: partners register deals at their own
rate; a third of them fade out after an onset day, and their questions fade two
months earlier, so there is a leading signal the model can learn.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ghost_model.backtest import (
    METHODS,
    classification_metrics,
    lead_time,
    make_folds,
    run_backtest,
    threshold_at_precision,
)
from ghost_model.baselines import fit_logistic, logistic_input
from ghost_model.errors import ConfigError, DataContractError
from ghost_model.model import (
    DEAL_RHYTHM_FEATURE,
    MODEL_FILE,
    DealRhythm,
    PartnerRiskModel,
    calibrate,
)
from ghost_model.training import (
    BLEND_GRID,
    DEFAULT_PARAMS,
    TrainConfig,
    fit_model,
    label_array,
)

DAY = pd.Timedelta(days=1)
FEATURES = [
    "deals_30d",
    "deals_90d",
    "deals_prev_90d",
    "days_since_last_deal",
    "questions_90d",
    "questions_prev_90d",
    "reps",
    "tier",
]
HISTORY_FEATURES = [*FEATURES, "days_since_first_deal", "deal_days_history"]
FAST = TrainConfig(
    folds=3,
    num_boost_round=60,
    params=DEFAULT_PARAMS
    | {"num_threads": 1, "learning_rate": 0.1, "min_data_in_leaf": 50},
)


def small_world(
    partners: int = 300, months: int = 24, seed: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deals and a monthly feature table with labels for a small seeded world."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-04-01", tz="UTC")
    end = start + pd.DateOffset(months=months)
    n_days = (end - start).days
    days = np.arange(n_days)
    tiers = rng.choice(["gold", "silver", "bronze"], partners, p=[0.2, 0.3, 0.5])
    base = rng.gamma(2.0, 1.0, partners) * np.where(tiers == "gold", 2.0, 1.0) / 30
    fading = rng.random(partners) < 0.35
    onset = rng.integers(150, n_days, partners)
    fade = np.clip((days[None, :] - onset[:, None]) / 60, 0, 1) * fading[:, None]
    early = np.clip((days[None, :] - onset[:, None] + 60) / 40, 0, 1) * fading[:, None]
    deal_daily = rng.random((partners, n_days)) < base[:, None] * (1 - 0.97 * fade)
    asked = (0.15 + 2 * base[:, None]) * (1 - 0.9 * early)
    question_daily = rng.random((partners, n_days)) < asked

    ids = np.array([f"P{p:04d}" for p in range(partners)])
    who, when = np.nonzero(deal_daily)
    deals = pd.DataFrame(
        {
            "partner_id": pd.Series(ids[who], dtype="str"),
            "registered_at": (start + when * DAY + pd.Timedelta(hours=3)),
        }
    )
    deals["registered_at"] = deals["registered_at"].astype("datetime64[us, UTC]")

    deal_cum = np.concatenate([np.zeros((partners, 1)), deal_daily.cumsum(1)], axis=1)
    q_cum = np.concatenate([np.zeros((partners, 1)), question_daily.cumsum(1)], axis=1)
    reps = rng.integers(1, 8, partners).astype(float)
    frames = []
    for m in range(6, months + 1):
        t = (start + pd.DateOffset(months=m) - start).days

        def window(cum: np.ndarray, lo: int, hi: int, t: int = t) -> np.ndarray:
            return np.asarray(cum[:, max(t - lo, 0)] - cum[:, max(t - hi, 0)])

        active = window(deal_cum, 0, 180) > 0
        seen = deal_daily[:, :t]
        first = np.where(seen.any(1), seen.argmax(1), np.nan)
        last = np.array(
            [
                (t - 1 - np.nonzero(row[:t])[0][-1]) + 21 / 24
                if row[:t].any()
                else np.nan
                for row in deal_daily
            ]
        )
        future = deal_cum[:, min(t + 90, n_days)] - deal_cum[:, t]
        labelled = t + 90 <= n_days
        frame = pd.DataFrame(
            {
                "partner_id": pd.Series(ids, dtype="str"),
                "as_of": start + t * DAY,
                "deals_30d": window(deal_cum, 0, 30),
                "deals_90d": window(deal_cum, 0, 90),
                "deals_prev_90d": window(deal_cum, 90, 180),
                "days_since_last_deal": last,
                "days_since_first_deal": t - first,
                "deal_days_history": seen.sum(1).astype(float),
                "questions_90d": window(q_cum, 0, 90),
                "questions_prev_90d": window(q_cum, 90, 180),
                "reps": reps,
                "tier": pd.Series(tiers, dtype="str"),
                "label": pd.array(
                    (future == 0).astype(int) if labelled else [pd.NA] * partners,
                    dtype="Int8",
                ),
            }
        )
        frames.append(frame[active])
    table = pd.concat(frames, ignore_index=True)
    table["as_of"] = table["as_of"].astype("datetime64[us, UTC]")
    table.loc[table.index % 13 == 0, "questions_prev_90d"] = np.nan
    return deals, table


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    return small_world()


@pytest.fixture(scope="module")
def fitted(world: tuple[pd.DataFrame, pd.DataFrame]):  # type: ignore[no-untyped-def]
    _, table = world
    return fit_model(table, FEATURES, FAST)


@pytest.fixture(scope="module")
def backtest(world: tuple[pd.DataFrame, pd.DataFrame]):  # type: ignore[no-untyped-def]
    deals, table = world
    return run_backtest(table, FEATURES, deals, "UTC", FAST)


# fitting and calibration -------------------------------------------------------------


def test_fit_model_calibrates_on_later_cutoffs_than_trees(fitted) -> None:  # type: ignore[no-untyped-def]
    """Check that calibration cutoffs lie after those of the trees it was fitted to.

    The final trees are then refitted on every labelled cutoff.
    """
    held_out = pd.to_datetime(fitted.metadata["holdout_tree_cutoffs"])
    calibration = pd.to_datetime(fitted.metadata["calibration_cutoffs"])
    final = pd.to_datetime(fitted.metadata["tree_cutoffs"])
    assert len(calibration) == FAST.calibration_cutoffs
    assert held_out.max() < calibration.min()
    assert list(final) == sorted({*held_out, *calibration})


def test_predict_proba_calibration_is_monotone_in_raw_score(
    fitted, world: tuple[pd.DataFrame, pd.DataFrame]
) -> None:  # type: ignore[no-untyped-def]
    """Check that a higher raw score never gets a lower calibrated probability."""
    _, table = world
    raw = fitted.predict_raw(table)
    proba = fitted.predict_proba(table)
    order = np.argsort(raw)
    assert np.all(np.diff(proba[order]) >= 0)
    assert ((proba > 0) & (proba < 1)).all()


def test_predict_proba_is_calibrated_on_average(
    fitted, world: tuple[pd.DataFrame, pd.DataFrame]
) -> None:  # type: ignore[no-untyped-def]
    """Check that the mean probability is close to the base rate of labelled rows."""
    _, table = world
    rows = table[table["label"].notna()]
    assert fitted.predict_proba(rows).mean() == pytest.approx(
        rows["label"].astype(float).mean(), abs=0.05
    )


def test_predict_proba_scores_worse_signals_higher(fitted) -> None:  # type: ignore[no-untyped-def]
    """Check that a partner gone quiet with fading questions scores riskier."""
    healthy = {
        "deals_30d": 3.0,
        "deals_90d": 9.0,
        "deals_prev_90d": 8.0,
        "days_since_last_deal": 3.0,
        "questions_90d": 20.0,
        "questions_prev_90d": 18.0,
        "reps": 4.0,
        "tier": "silver",
    }
    fading = healthy | {
        "deals_30d": 0.0,
        "deals_90d": 1.0,
        "days_since_last_deal": 70.0,
        "questions_90d": 2.0,
    }
    frame = pd.DataFrame([healthy, fading])
    proba = fitted.predict_proba(frame)
    assert proba[1] > proba[0] + 0.2


def test_predict_contributions_rows_sum_to_raw_score(
    fitted, world: tuple[pd.DataFrame, pd.DataFrame]
) -> None:  # type: ignore[no-untyped-def]
    """Check that per-feature contributions plus bias equal the raw log-odds."""
    _, table = world
    rows = table.head(200)
    contributions = fitted.predict_contributions(rows)
    assert list(contributions.columns) == [*FEATURES, "bias"]
    np.testing.assert_allclose(
        contributions.sum(axis=1), fitted.predict_raw(rows), atol=1e-9
    )


def test_predict_proba_treats_unseen_category_as_missing(fitted) -> None:  # type: ignore[no-untyped-def]
    """Check that an unseen tier scores exactly like a missing tier."""
    row = {f: 1.0 for f in FEATURES} | {"tier": "platinum"}
    unseen = pd.DataFrame([row])
    missing = pd.DataFrame([row | {"tier": None}]).astype({"tier": "str"})
    assert fitted.predict_proba(unseen)[0] == fitted.predict_proba(missing)[0]


def test_predict_proba_accepts_nullable_integer_and_object_columns(
    fitted, world: tuple[pd.DataFrame, pd.DataFrame]
) -> None:  # type: ignore[no-untyped-def]
    """Check that Int64 with <NA> and object columns score like their float form."""
    _, table = world
    rows = table.head(100).copy()
    rows.loc[rows.index[:10], "deals_90d"] = np.nan
    expected = fitted.predict_proba(rows)
    mixed = rows.astype({"deals_90d": "Int64", "reps": "object", "tier": "object"})
    np.testing.assert_array_equal(fitted.predict_proba(mixed), expected)


def test_predict_proba_rejects_frame_without_feature() -> None:
    """Check that scoring a frame that lacks a trained feature names the column."""
    _, table = small_world(partners=120, months=14, seed=2)
    model = fit_model(table, FEATURES, FAST)
    with pytest.raises(DataContractError, match="questions_90d"):
        model.predict_proba(table.drop(columns="questions_90d"))


def test_fit_model_rejects_too_few_labelled_cutoffs(
    world: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Check that training on fewer cutoffs than calibration needs says so."""
    _, table = world
    one = table[table["as_of"] == table["as_of"].min()]
    with pytest.raises(ConfigError, match="at least 2 labelled cutoffs"):
        fit_model(one, FEATURES, FAST)


# backtest --------------------------------------------------------------------------


@pytest.mark.parametrize("horizon", [30, 90, 120])
def test_make_folds_never_leaks_label_windows(horizon: int) -> None:
    """Check that every training cutoff's label window ends by its test cutoff."""
    cutoffs = list(pd.date_range("2022-01-01", periods=30, freq="MS", tz="UTC"))
    folds = make_folds(cutoffs, horizon, folds=6, min_train=3)
    assert [f.test_cutoff for f in folds] == cutoffs[-6:]
    for fold in folds:
        assert fold.train_cutoffs
        assert all(a + horizon * DAY <= fold.test_cutoff for a in fold.train_cutoffs)
        later = [c for c in cutoffs if c + horizon * DAY > fold.test_cutoff]
        assert not set(later) & set(fold.train_cutoffs)


def test_make_folds_rejects_data_too_short_for_any_fold() -> None:
    """Check that too few cutoffs for the horizon fail with a clear message."""
    cutoffs = list(pd.date_range("2022-01-01", periods=4, freq="MS", tz="UTC"))
    with pytest.raises(ConfigError, match="no backtest fold possible"):
        make_folds(cutoffs, 90, folds=2, min_train=3)


def test_run_backtest_scores_every_method_on_each_test_cutoff(backtest) -> None:  # type: ignore[no-untyped-def]
    """Check that each fold has metrics for the model and all baselines."""
    assert len(backtest.folds) == FAST.folds
    assert set(backtest.metrics["method"]) == set(METHODS)
    assert len(backtest.metrics) == FAST.folds * len(METHODS)
    tested = set(backtest.predictions["as_of"])
    assert tested == {f.test_cutoff for f in backtest.folds}
    assert backtest.metrics[["roc_auc", "pr_auc", "brier"]].notna().all().all()


def test_run_backtest_model_beats_rule_baselines(backtest) -> None:  # type: ignore[no-untyped-def]
    """Check that the model ranks better than days-since-last-deal and the trend."""
    pr = backtest.metrics.pivot(index="fold", columns="method", values="pr_auc")
    assert (pr["model"] > pr["days_since_last_deal"]).all()
    assert (pr["model"] > pr["deal_trend"]).all()
    assert (pr["model"] > pr["bgnbd"]).all()


# metrics and lead time -------------------------------------------------------------


def test_classification_metrics_perfect_ranking() -> None:
    """Check the metrics of a ranking that puts every silent partner first."""
    label = np.array([1] * 10 + [0] * 90)
    score = np.linspace(1, 0, 100)
    out = classification_metrics(label, score, np.clip(score, 0.01, 0.99), (0.1, 0.2))
    assert out["roc_auc"] == 1.0
    assert out["pr_auc"] == pytest.approx(1.0)
    assert out["precision_at_10"] == 1.0
    assert out["recall_at_10"] == 1.0
    assert out["precision_at_20"] == 0.5
    assert out["lift_at_10"] == pytest.approx(10.0)


def test_threshold_at_precision_flags_deepest_depth_reaching_target() -> None:
    """Check that the threshold is the lowest score whose precision meets the target."""
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    label = np.array([1, 1, 0, 1, 0])
    assert threshold_at_precision(score, label, 0.75) == 0.6
    assert threshold_at_precision(score, label, 1.01) == float("inf")


def test_lead_time_counts_days_before_rule_fires() -> None:
    """Check the lead time of a partner flagged two cutoffs before the 90-day rule."""
    cutoffs = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])
    cutoffs = cutoffs.tz_localize("UTC")
    last_deal = pd.Timestamp("2023-12-20", tz="UTC")
    quiet = [(c - last_deal) / DAY for c in cutoffs]
    rows = [
        {"partner_id": "A", "as_of": c, "label": lab, "days_since_last_deal": q}
        | {"model_score": s}
        for c, q, lab, s in zip(
            cutoffs, quiet, [1, 1, 1, 1], [0.05, 0.8, 0.9, 0.9], strict=True
        )
    ]
    rows += [
        {
            "partner_id": f"B{i}",
            "as_of": c,
            "label": 0,
            "days_since_last_deal": 5.0,
            "model_score": 0.1,
        }
        for i in range(3)
        for c in cutoffs
    ]
    rows += [
        {
            "partner_id": "C",
            "as_of": c,
            "label": 1,
            "days_since_last_deal": 120.0,
            "model_score": 0.95,
        }
        for c in cutoffs
    ]
    predictions = pd.DataFrame(rows)
    predictions["label"] = predictions["label"].astype("Int8")
    out = lead_time(predictions)
    assert out["partners"] == 1
    assert out["median_days"] == (cutoffs[3] - cutoffs[1]) / DAY


# derived deal rhythm, early stopping, refit, monotone directions ----------------------


@pytest.fixture(scope="module")
def rhythm_model(world: tuple[pd.DataFrame, pd.DataFrame]) -> PartnerRiskModel:
    _, table = world
    return fit_model(table, HISTORY_FEATURES, FAST)


def test_fit_model_derives_deal_rhythm_when_history_features_present(
    rhythm_model: PartnerRiskModel, fitted: PartnerRiskModel
) -> None:
    """Check that the BG/NBD input is derived only when its three inputs are there."""
    assert rhythm_model.derived_names == [DEAL_RHYTHM_FEATURE]
    assert rhythm_model.booster_names == [*HISTORY_FEATURES, DEAL_RHYTHM_FEATURE]
    assert fitted.derived_names == []
    assert rhythm_model.feature_importance()[DEAL_RHYTHM_FEATURE] > 0


def test_predict_contributions_include_derived_input_and_sum_to_raw(
    rhythm_model: PartnerRiskModel, world: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """Check that the derived input has its own contribution and rows still add up."""
    _, table = world
    rows = table.head(200)
    contributions = rhythm_model.predict_contributions(rows)
    assert list(contributions.columns) == [
        *HISTORY_FEATURES,
        DEAL_RHYTHM_FEATURE,
        "bias",
    ]
    np.testing.assert_allclose(
        contributions.sum(axis=1), rhythm_model.predict_raw(rows), atol=1e-9
    )


def test_deal_rhythm_p_silent_rises_with_quiet_time(
    rhythm_model: PartnerRiskModel,
) -> None:
    """Check that, for one deal history, a longer quiet time means likelier silence."""
    rhythm = rhythm_model.deal_rhythm
    assert isinstance(rhythm, DealRhythm)
    frame = pd.DataFrame(
        {
            "deal_days_history": 12.0,
            "days_since_first_deal": 400.0,
            "days_since_last_deal": [1.0, 30.0, 90.0, 200.0, np.nan],
        }
    )
    p = rhythm.p_silent(frame)
    assert np.all(np.diff(p[:4]) > 0)
    assert ((p[:4] > 0) & (p[:4] < 1)).all()
    assert np.isnan(p[4])


def test_load_model_keeps_deal_rhythm_probabilities(
    rhythm_model: PartnerRiskModel, world: tuple[pd.DataFrame, pd.DataFrame], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Check that a saved model reads back its BG/NBD parameters and probabilities."""
    _, table = world
    loaded = PartnerRiskModel.load(rhythm_model.save(tmp_path / "m"))
    assert loaded.deal_rhythm == rhythm_model.deal_rhythm
    np.testing.assert_array_equal(
        loaded.predict_proba(table), rhythm_model.predict_proba(table)
    )


def test_derived_catalogue_names_stage_and_renders_both_languages(
    rhythm_model: PartnerRiskModel,
) -> None:
    """Check that the derived input reads as a priority reason with its own number."""
    from ghost_model.features.catalogue import render_reason

    spec = rhythm_model.derived_catalogue()[DEAL_RHYTHM_FEATURE]
    assert spec.stage == "priority"
    row = {DEAL_RHYTHM_FEATURE: 0.734}
    assert "73%" in render_reason(spec, row, "en")
    assert "73%" in render_reason(spec, row, "ja")
    assert "90" in render_reason(spec, row, "ja")


def test_fit_model_early_stopping_and_refit_use_every_cutoff(
    world: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Check that early stopping bounds the trees and the refit sees the last cutoff."""
    _, table = world
    config = replace(
        FAST, num_boost_round=2000, early_stopping_rounds=10, refit_all=True
    )
    model = fit_model(table, HISTORY_FEATURES, config)
    assert 1 <= model.metadata["trees"] < 2000
    assert model.booster.num_trees() == model.metadata["trees"]
    trees = pd.to_datetime(model.metadata["tree_cutoffs"])
    calibration = pd.to_datetime(model.metadata["calibration_cutoffs"])
    assert calibration.max() == trees.max()


def test_fit_model_monotone_direction_holds_everywhere(
    world: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Check that a longer quiet time never lowers the risk when it is constrained.

    Quiet time also feeds the derived BG/NBD input, which rises with it, so both
    carry the constraint.
    """
    _, table = world
    directions = {"days_since_last_deal": 1, DEAL_RHYTHM_FEATURE: 1, "deals_90d": -1}
    config = replace(FAST, monotone=directions, blend=False)
    model = fit_model(table, HISTORY_FEATURES, config)
    rows = table.sample(50, random_state=1)
    grid = [0.5, 3, 10, 30, 60, 90, 150, 250]
    raw = np.stack(
        [model.predict_raw(rows.assign(days_since_last_deal=g)) for g in grid]
    )
    assert np.all(np.diff(raw, axis=0) >= -1e-12)


def test_train_config_from_dict_keeps_old_recipe_without_new_steps() -> None:
    """Check that a recipe recorded before the new options refits the old way."""
    old = {k: v for k, v in FAST.to_dict().items() if k in OLD_KEYS}
    config = TrainConfig.from_dict(old)
    assert (
        config.deal_rhythm,
        config.refit_all,
        config.early_stopping_rounds,
        config.blend,
    ) == (False, False, 0, False)
    assert TrainConfig.from_dict(FAST.to_dict()) == FAST


def test_train_config_rejects_negative_early_stopping() -> None:
    """Check that a negative early-stopping patience is refused with the rule."""
    with pytest.raises(ConfigError, match="early_stopping_rounds must be >= 0"):
        TrainConfig(early_stopping_rounds=-1)


OLD_KEYS = (
    "horizon_days",
    "folds",
    "calibration_cutoffs",
    "num_boost_round",
    "params",
    "depths",
)


# blend of the trees with a logistic regression ----------------------------------------


def reweighted(model: PartnerRiskModel, weight: float) -> PartnerRiskModel:
    """``model`` with another blend weight of its trees."""
    return PartnerRiskModel(
        model.booster,
        model.feature_names,
        model.categorical_levels,
        model.calibration,
        model.metadata,
        model.deal_rhythm,
        linear=model.linear,
        blend_weight=weight,
    )


def test_fit_model_blends_trees_with_weight_from_grid(
    rhythm_model: PartnerRiskModel,
) -> None:
    """Check that the default fit has a linear part and a weight from the grid."""
    assert rhythm_model.linear is not None
    assert rhythm_model.blend_weight in BLEND_GRID
    assert rhythm_model.metadata["blend_weight"] == rhythm_model.blend_weight
    assert rhythm_model.linear.numeric[-1] == DEAL_RHYTHM_FEATURE


@pytest.mark.parametrize("weight", [0.0, 0.35, 1.0])
def test_predict_contributions_blend_rows_sum_to_raw_score(
    rhythm_model: PartnerRiskModel,
    world: tuple[pd.DataFrame, pd.DataFrame],
    weight: float,
) -> None:
    """Check that blended contributions keep their columns and add up to the raw."""
    _, table = world
    model = reweighted(rhythm_model, weight)
    rows = table.sample(200, random_state=3).copy()
    rows.loc[rows.index[:20], ["deals_90d", "tier"]] = np.nan
    contributions = model.predict_contributions(rows)
    trees = model.tree_contributions(rows)
    assert list(contributions.columns) == [*model.booster_names, "bias"]
    np.testing.assert_allclose(
        contributions.sum(axis=1), model.predict_raw(rows), atol=1e-9
    )
    if weight == 1.0:
        np.testing.assert_allclose(contributions, trees, atol=1e-12)
    else:
        assert not np.allclose(contributions, weight * trees)


def test_linear_part_scores_like_logistic_baseline_with_missing_values(
    rhythm_model: PartnerRiskModel, world: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """Check that the stored linear part equals the baseline's pipeline, NaN included.

    The pipeline is refitted on the same rows the final model saw; its log-odds
    must match the numbers read out of it.
    """
    _, table = world
    linear = rhythm_model.linear
    assert linear is not None
    rows = table[table["label"].notna()]
    full = rhythm_model.with_derived(rows)
    pipeline = fit_logistic(full, label_array(rows), linear.numeric, linear.categorical)
    probe = full.sample(300, random_state=4).copy()
    probe.loc[probe.index[:30], ["days_since_last_deal", "tier"]] = np.nan
    expected = pipeline.decision_function(
        logistic_input(probe, linear.numeric, linear.categorical)
    )
    np.testing.assert_allclose(linear.predict_raw(probe), expected, atol=1e-9)


def test_load_model_keeps_blend_probabilities_and_contributions(
    world: tuple[pd.DataFrame, pd.DataFrame], rhythm_model: PartnerRiskModel, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Check that a saved blended model reads back to identical numbers."""
    _, table = world
    model = reweighted(rhythm_model, 0.6)
    loaded = PartnerRiskModel.load(model.save(tmp_path / "m"))
    assert (loaded.linear, loaded.blend_weight) == (model.linear, 0.6)
    np.testing.assert_array_equal(
        loaded.predict_proba(table), model.predict_proba(table)
    )
    rows = table.head(100)
    np.testing.assert_array_equal(
        loaded.predict_contributions(rows), model.predict_contributions(rows)
    )


def test_load_model_without_blend_scores_trees_alone(
    rhythm_model: PartnerRiskModel, world: tuple[pd.DataFrame, pd.DataFrame], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Check that a model saved before the blend existed loads as trees only."""
    import json

    _, table = world
    folder = reweighted(rhythm_model, 0.5).save(tmp_path / "old")
    document = json.loads((folder / MODEL_FILE).read_text())
    del document["linear"], document["blend_weight"]
    (folder / MODEL_FILE).write_text(json.dumps(document))
    loaded = PartnerRiskModel.load(folder)
    assert (loaded.linear, loaded.blend_weight) == (None, 1.0)
    raw = rhythm_model.booster.predict(rhythm_model.matrix(table), raw_score=True)
    np.testing.assert_array_equal(
        loaded.predict_proba(table), calibrate(raw, rhythm_model.calibration)
    )
