"""Explanations of a real PartnerRiskModel on simulated features and the catalogue."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shap

from ghost_model.contract import STAGES, STAGES_WITH_CONTEXT
from ghost_model.explain import (
    BIAS,
    agreement_share,
    compare_with_cause,
    explain_frame,
    feature_contributions,
)
from ghost_model.features import (
    FeatureTable,
    build_feature_table,
    load_catalogue,
    monthly_cutoffs,
)
from ghost_model.model import PartnerRiskModel
from ghost_model.scoring import score_partners
from ghost_model.simulate import SimulatedEcosystem
from ghost_model.training import DEFAULT_PARAMS, TrainConfig, fit_model

CUTOFFS = 8
"""Monthly cutoffs built: the last three unlabelled, the rest to fit on."""

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def fit_small(table: FeatureTable) -> PartnerRiskModel:
    """A quick model: few trees, one thread (the test machine is shared)."""
    config = TrainConfig(
        num_boost_round=40, params={**DEFAULT_PARAMS, "num_threads": 1}
    )
    return fit_model(
        table.frame,
        table.feature_names,
        config,
        metadata={"name": "ghost-partner", "version": "test"},
    )


@pytest.fixture(scope="module")
def table(small_ecosystem: SimulatedEcosystem) -> FeatureTable:
    """Features of the small ecosystem at its last monthly cutoffs."""
    dataset = small_ecosystem.dataset()
    return build_feature_table(dataset, monthly_cutoffs(dataset)[-CUTOFFS:])


@pytest.fixture(scope="module")
def model(table: FeatureTable) -> PartnerRiskModel:
    """A small model fitted on those features."""
    return fit_small(table)


@pytest.fixture(scope="module")
def latest(table: FeatureTable) -> pd.DataFrame:
    """Feature rows at the latest cutoff."""
    return table.frame[table.frame["as_of"] == table.frame["as_of"].max()]


def test_match_model_contributions_shap(
    model: PartnerRiskModel, latest: pd.DataFrame
) -> None:
    """Check that the trees' contributions equal shap.TreeExplainer's to 1e-6.

    The model's contributions blend them with the linear part's and still add up
    to the raw score.
    """
    rows = latest.head(60)
    contributions = feature_contributions(model, rows)
    explainer = shap.TreeExplainer(model.booster)
    expected = np.asarray(explainer.shap_values(model.matrix(rows)))

    trees = model.tree_contributions(rows)
    np.testing.assert_allclose(
        trees[model.booster_names].to_numpy(), expected, atol=1e-6, rtol=0
    )
    np.testing.assert_allclose(
        contributions.sum(axis=1).to_numpy(), model.predict_raw(rows), atol=1e-9
    )
    assert contributions[BIAS].nunique() == 1


def test_explain_frame_stages_sum_raw(
    model: PartnerRiskModel, latest: pd.DataFrame
) -> None:
    """Check that base value plus the four stage sums is the raw score."""
    explanations = explain_frame(model, latest, load_catalogue())
    raw = model.predict_raw(latest)

    for explanation, expected in zip(explanations, raw, strict=True):
        stages = explanation.stage_contributions
        assert set(stages) == set(STAGES_WITH_CONTEXT)
        total = explanation.base_value + sum(v for v in stages.values() if v)
        assert total == pytest.approx(expected, abs=1e-9)
    assert np.allclose(
        [e.probability for e in explanations], model.predict_proba(latest)
    )


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_score_partners_catalogue_reasons(
    model: PartnerRiskModel, table: FeatureTable, lang: str
) -> None:
    """Check that reasons are filled catalogue sentences in the chosen language."""
    records = score_partners(model, table, timezone="Asia/Tokyo", lang=lang)

    assert records
    texts = [reason["text"] for r in records for reason in r["reasons"]]
    assert len(texts) >= len(records)  # most partners have three reasons
    assert not any("{" in t or "}" in t for t in texts)
    if lang == "ja":
        assert all(JAPANESE.search(t) for t in texts)
    for record in records:
        assert 0.0 <= record["probability"] <= 1.0
        assert record["driving_stage"] in (*STAGES, None)
        assert len(record["reasons"]) <= 3
        assert all(r["contribution"] > 0 for r in record["reasons"])


def test_score_partners_quiet_reps_real_table(
    model: PartnerRiskModel, table: FeatureTable
) -> None:
    """Check that quiet reps come from the rep table and agree with its flags."""
    records = score_partners(model, table, timezone="Asia/Tokyo")
    as_of = table.frame["as_of"].max()
    reps = table.reps[table.reps["as_of"] == as_of]

    with_reps = [r for r in records if r["reps"]]
    assert len(with_reps) > len(records) / 2
    quiet = {(r["partner_id"], q["rep_id"]) for r in records for q in r["quiet_reps"]}
    flagged = reps[reps["quiet"] | reps["departed"]]
    scored = {r["partner_id"] for r in records}
    expected = {
        (p, rep)
        for p, rep in zip(flagged["partner_id"], flagged["rep_id"], strict=True)
        if p in scored
    }
    assert quiet == expected


def test_score_partners_deals_only_no_data(small_ecosystem: SimulatedEcosystem) -> None:
    """Check that on a deals-only dataset the absent stages have no contribution."""
    dataset = small_ecosystem.dataset()
    dataset.tables = {"deals": dataset.tables["deals"]}
    table = build_feature_table(dataset, monthly_cutoffs(dataset)[-CUTOFFS:])
    model = fit_small(table)
    records = score_partners(model, table, timezone=dataset.timezone)

    for stage in table.stages_without_data:
        assert all(r["stage_contributions"][stage] is None for r in records)
        assert all(r["driving_stage"] != stage for r in records)
    assert "distance" in table.stages_without_data


def test_compare_with_cause_runs_on_simulator(
    model: PartnerRiskModel,
    table: FeatureTable,
    small_ecosystem: SimulatedEcosystem,
) -> None:
    """Check that the stage check runs on simulated truth and counts real cases."""
    rows: list[dict[str, Any]] = []
    for cutoff in sorted(table.frame["as_of"].unique())[-4:]:
        records = score_partners(
            model, table, timezone="Asia/Tokyo", as_of=cutoff, n_reasons=0
        )
        rows += records
    scores = pd.DataFrame(rows)[["partner_id", "as_of", "risk_band", "driving_stage"]]
    matrix = compare_with_cause(
        scores, small_ecosystem.truth, timezone="Asia/Tokyo", band="high"
    )

    assert list(matrix.index) == list(STAGES)
    assert matrix.to_numpy().sum() > 0
    assert 0.0 <= agreement_share(matrix) <= 1.0
