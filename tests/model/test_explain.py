"""Explanations: SHAP contributions per feature and stage, driving stage, reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap

from ghost_model.errors import ConfigError
from ghost_model.explain import (
    BIAS,
    agreement_share,
    compare_with_cause,
    explain_frame,
    feature_contributions,
    pick_driving_stage,
    rank_reasons,
    signal_family,
    sum_by_stage,
)
from ghost_model.features.catalogue import FeatureSpec

FEATURES = {
    "win_rate_90d": ("sellability", "Win rate: {win_rate_90d:.0%} in 90 days"),
    "stalled_share": ("sellability", "Stalled deals: {stalled_share:.0%}"),
    "inbound_questions_90d": (
        "distance",
        "Questions from the partner: {inbound_questions_90d:.0f} in 90 days",
    ),
    "response_hours": ("distance", "Our answers took {response_hours:.0f} hours"),
    "reps_proposing_90d": ("priority", "Reps proposing: {reps_proposing_90d:.0f}"),
    "tenure_days": ("context", "Partner for {tenure_days:.0f} days"),
}


def make_catalogue() -> dict[str, FeatureSpec]:
    """A catalogue over the stand-in features."""
    return {
        name: FeatureSpec(
            name=name,
            stage=stage,
            level="partner",
            unit="",
            tables=("deals",),
            description=name,
            template_en=template,
            template_ja="日本語: " + template,
        )
        for name, (stage, template) in FEATURES.items()
    }


def render(spec: FeatureSpec, row: Mapping[str, Any], lang: str) -> str:
    """A minimal renderer: the language's template over the row."""
    template = spec.template_ja if lang == "ja" else spec.template_en
    return template.format(**row)


class StandInModel:
    """A fitted LightGBM booster behind the PartnerRiskModel methods."""

    def __init__(self, booster: lgb.Booster, feature_names: list[str]) -> None:
        self.booster = booster
        self.feature_names = feature_names
        self.metadata = {"name": "stand-in", "version": "1"}

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(
            self.booster.predict(frame[self.feature_names], raw_score=True)
        )

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.predict_raw(frame)))

    def predict_contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = self.booster.predict(frame[self.feature_names], pred_contrib=True)
        return pd.DataFrame(values, columns=[*self.feature_names, BIAS])


def make_frame(n: int, seed: int) -> pd.DataFrame:
    """Feature rows where low win rate, few questions and few reps mean silence."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "partner_id": [f"P{i:04d}" for i in range(n)],
            "win_rate_90d": rng.uniform(0, 1, n),
            "stalled_share": rng.uniform(0, 1, n),
            "inbound_questions_90d": rng.poisson(5, n).astype(float),
            "response_hours": rng.gamma(2.0, 10.0, n),
            "reps_proposing_90d": rng.integers(0, 6, n).astype(float),
            "tenure_days": rng.uniform(100, 3000, n),
        }
    )
    frame.loc[rng.random(n) < 0.15, "response_hours"] = np.nan
    return frame


@pytest.fixture(scope="module")
def model() -> StandInModel:
    """A small booster fitted on synthetic rows."""
    frame = make_frame(600, seed=1)
    rng = np.random.default_rng(2)
    logit = (
        -2.5 * frame["win_rate_90d"]
        - 0.4 * frame["inbound_questions_90d"]
        - 0.6 * frame["reps_proposing_90d"]
        + 3.0
    )
    label = (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(int)
    names = list(FEATURES)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 3}
    booster = lgb.train(params, lgb.Dataset(frame[names], label), num_boost_round=40)
    return StandInModel(booster, names)


def test_match_contributions_shap_tree_explainer(model: StandInModel) -> None:
    """Check that pred_contrib contributions equal shap.TreeExplainer's to 1e-6."""
    frame = make_frame(80, seed=5)
    contributions = feature_contributions(model, frame)
    explainer = shap.TreeExplainer(model.booster)
    expected = np.asarray(explainer.shap_values(frame[model.feature_names]))

    assert expected.shape == (80, len(model.feature_names))
    np.testing.assert_allclose(
        contributions[model.feature_names].to_numpy(), expected, atol=1e-6, rtol=0
    )
    np.testing.assert_allclose(
        contributions[BIAS].to_numpy(), explainer.expected_value, atol=1e-6
    )


def test_sum_contributions_raw_score(model: StandInModel) -> None:
    """Check that base value plus all contributions equals the raw log-odds score."""
    frame = make_frame(50, seed=6)
    explanations = explain_frame(model, frame, make_catalogue(), render=render)
    raw = model.predict_raw(frame)

    for explanation, expected in zip(explanations, raw, strict=True):
        stages = sum(v for v in explanation.stage_contributions.values() if v)
        assert explanation.base_value + stages == pytest.approx(expected, abs=1e-9)
        assert explanation.raw_score == pytest.approx(expected, abs=1e-9)
        assert explanation.probability == pytest.approx(1 / (1 + np.exp(-expected)))


def test_sum_by_stage_catalogue_features(model: StandInModel) -> None:
    """Check that a stage's contribution is the sum over exactly its features."""
    contributions = feature_contributions(model, make_frame(20, seed=7))
    stages = sum_by_stage(contributions, make_catalogue())

    expected = contributions["win_rate_90d"] + contributions["stalled_share"]
    np.testing.assert_allclose(stages["sellability"], expected)
    np.testing.assert_allclose(stages["context"], contributions["tenure_days"])
    assert list(stages.columns) == ["sellability", "distance", "priority", "context"]


def test_sum_by_stage_without_data_missing(model: StandInModel) -> None:
    """Check that a stage without data gets no contribution, not zero."""
    contributions = feature_contributions(model, make_frame(10, seed=8))
    stages = sum_by_stage(contributions, make_catalogue(), ["distance"])

    assert stages["distance"].isna().all()
    assert stages["sellability"].notna().all()


def test_pick_driving_stage_largest_positive() -> None:
    """Check that the driving stage is the largest positive of the three stages."""
    assert (
        pick_driving_stage(
            {"sellability": 0.2, "distance": 0.5, "priority": -1.0, "context": 3.0}
        )
        == "distance"
    )
    assert pick_driving_stage({"sellability": -0.2, "distance": None}) is None
    assert pick_driving_stage({"sellability": float("nan"), "priority": 0.1}) == (
        "priority"
    )


def test_explain_reasons_push_risk_up(model: StandInModel) -> None:
    """Check that reasons are the top positive contributions, rendered with numbers.

    Context features and features missing for the partner never become reasons.
    """
    frame = make_frame(40, seed=9)
    catalogue = make_catalogue()
    explanations = explain_frame(model, frame, catalogue, render=render)
    contributions = feature_contributions(model, frame).drop(columns=BIAS)

    for i, explanation in enumerate(explanations):
        values = frame.iloc[i]
        eligible = [
            f
            for f in contributions.columns
            if catalogue[f].stage != "context" and not pd.isna(values[f])
        ]
        row = contributions.iloc[i][eligible]
        expected = row[row > 0].sort_values(ascending=False).index[:3].tolist()
        assert len(expected) == len({signal_family(f) for f in expected})
        assert [r.feature for r in explanation.reasons] == expected
        for reason in explanation.reasons:
            assert reason.text == render(
                make_catalogue()[reason.feature], frame.iloc[i].to_dict(), "en"
            )
            assert reason.contribution > 0


def test_explain_reasons_japanese(model: StandInModel) -> None:
    """Check that lang="ja" renders the Japanese templates."""
    frame = make_frame(5, seed=10)
    explanations = explain_frame(
        model, frame, make_catalogue(), lang="ja", render=render
    )

    texts = [r.text for e in explanations for r in e.reasons]
    assert texts
    assert all(t.startswith("日本語: ") for t in texts)


def test_explain_reasons_skip_stage_without_data(model: StandInModel) -> None:
    """Check that a stage without data neither drives nor gives reasons."""
    frame = make_frame(30, seed=11)
    explanations = explain_frame(
        model,
        frame,
        make_catalogue(),
        stages_without_data=["sellability"],
        render=render,
    )

    for explanation in explanations:
        assert explanation.driving_stage != "sellability"
        assert all(r.stage != "sellability" for r in explanation.reasons)
        assert explanation.stage_contributions["sellability"] is None


def test_explain_frame_lang_unknown(model: StandInModel) -> None:
    """Check that an unsupported language is refused by name."""
    with pytest.raises(ConfigError, match="language 'fr' is not supported"):
        explain_frame(model, make_frame(3, seed=12), make_catalogue(), lang="fr")


def test_explain_frame_feature_missing(model: StandInModel) -> None:
    """Check that rows lacking a model feature are refused, naming it."""
    frame = make_frame(3, seed=13).drop(columns="stalled_share")
    with pytest.raises(ConfigError, match="stalled_share"):
        explain_frame(model, frame, make_catalogue(), render=render)


def test_sum_by_stage_catalogue_gap(model: StandInModel) -> None:
    """Check that a model feature missing from the catalogue is an error."""
    contributions = feature_contributions(model, make_frame(3, seed=14))
    catalogue = make_catalogue()
    del catalogue["tenure_days"]
    with pytest.raises(
        ConfigError, match=r"'tenure_days'.*not in the feature catalogue"
    ):
        sum_by_stage(contributions, catalogue)


def test_compare_with_cause_counts_high_band_in_episode() -> None:
    """Check that the stage check counts high-band partners already in decline."""
    truth = pd.DataFrame(
        {
            "partner_id": ["A", "B", "C", "D", "E", "F"],
            "decline_start": pd.to_datetime(
                [
                    "2024-01-10T00:00Z",  # in episode, agrees
                    "2024-02-01T00:00Z",  # in episode, disagrees
                    "2024-05-01T00:00Z",  # starts after the cutoff
                    None,  # no episode
                    "2024-01-01T00:00Z",  # recovered
                    "2024-03-01T00:00Z",  # in episode, no driver
                ],
                utc=True,
            ),
            "root_stage": [
                "distance",
                "priority",
                "sellability",
                None,
                "distance",
                "sellability",
            ],
            "recovered": pd.array(
                [False, False, False, pd.NA, True, False], dtype="boolean"
            ),
        }
    )
    scores = pd.DataFrame(
        {
            "partner_id": ["A", "B", "C", "D", "E", "F", "A"],
            "as_of": ["2024-04-01"] * 6 + ["2024-03-01"],
            "risk_band": ["high"] * 6 + ["medium"],
            "driving_stage": [
                "distance",
                "sellability",
                "sellability",
                "priority",
                "distance",
                None,
                "distance",
            ],
        }
    )
    matrix = compare_with_cause(scores, truth, timezone="Asia/Tokyo")

    assert matrix.to_numpy().sum() == 3
    assert matrix.at["distance", "distance"] == 1
    assert matrix.at["priority", "sellability"] == 1
    assert matrix.at["sellability", "none"] == 1
    assert list(matrix.columns) == ["sellability", "distance", "priority", "none"]
    assert agreement_share(matrix) == pytest.approx(1 / 3)


def test_compare_with_cause_truth_columns_missing() -> None:
    """Check that a truth table without the episode columns is refused."""
    with pytest.raises(ConfigError, match="lacks column"):
        compare_with_cause(
            pd.DataFrame(
                {"partner_id": [], "as_of": [], "risk_band": [], "driving_stage": []}
            ),
            pd.DataFrame({"partner_id": ["A"]}),
            timezone="UTC",
        )


def test_signal_family_strips_window() -> None:
    """Check that window variants of one signal share a family."""
    assert signal_family("portal_views_30d") == "portal_views"
    assert signal_family("portal_views_prev_90d") == "portal_views"
    assert signal_family("win_rate_change_90d") == "win_rate"
    assert signal_family("portal_views_trend_90d") == "portal_views"
    assert signal_family("tenure_days") == "tenure_days"


def test_explain_reasons_one_per_signal() -> None:
    """Check that two windows of one signal give one reason, the stronger one."""
    names = ["views_30d", "views_90d", "questions_90d"]
    catalogue = {
        n: FeatureSpec(n, "distance", "partner", "", ("portal_views",), n, n, n)
        for n in names
    }
    contributions = pd.DataFrame([[0.5, 0.7, 0.1]], columns=names)
    rows = pd.DataFrame([[1.0, 2.0, 3.0]], columns=names)
    reasons = rank_reasons(contributions, rows, catalogue, "en", 3, (), render)

    assert [r.feature for r in reasons[0]] == ["views_90d", "questions_90d"]
