"""The feature table of the simulated ecosystem, checked against the raw tables."""

from __future__ import annotations

import pandas as pd
import pytest

from ghost_model.features import FeatureTable, build_feature_table, monthly_cutoffs
from ghost_model.simulate import SimulatedEcosystem


@pytest.fixture(scope="module")
def eco_table(small_ecosystem: SimulatedEcosystem) -> FeatureTable:
    dataset = small_ecosystem.dataset()
    return build_feature_table(dataset, monthly_cutoffs(dataset))


def test_build_feature_table_ecosystem_all_stages(eco_table: FeatureTable) -> None:
    """Check that the full simulated dataset yields every stage and both labels."""
    assert eco_table.stages_without_data == []
    labels = eco_table.frame["label"]
    assert set(labels.dropna().unique()) == {0, 1}
    assert labels.isna().any()
    assert not eco_table.frame.duplicated(["partner_id", "as_of"]).any()


def test_build_feature_table_ecosystem_counts_match_raw(
    small_ecosystem: SimulatedEcosystem, eco_table: FeatureTable
) -> None:
    """Check population, deal counts, last deal and label against pandas on raw rows."""
    deals = small_ecosystem.tables["deals"]
    partners = small_ecosystem.tables["partners"].set_index("partner_id")
    frame = eco_table.frame
    extract = small_ecosystem.config.extract_time
    for t in eco_table.cutoffs[6::5]:
        before = deals[deals["registered_at"] < t]
        recent = before[before["registered_at"] >= t - pd.Timedelta(days=180)]
        ended = partners["terminated_at"] < t
        population = set(recent["partner_id"]) - set(partners.index[ended])
        rows = frame[frame["as_of"] == t].set_index("partner_id")
        assert set(rows.index) == population

        in90 = before[before["registered_at"] >= t - pd.Timedelta(days=90)]
        counts = in90.groupby("partner_id").size().reindex(rows.index, fill_value=0)
        assert (rows["deals_90d"] == counts.astype(float)).all()

        horizon = t + pd.Timedelta(days=90)
        future = deals[
            (deals["registered_at"] >= t) & (deals["registered_at"] < horizon)
        ]
        silent = (~rows.index.isin(set(future["partner_id"]))).astype(int)
        if horizon <= extract:
            assert (rows["label"].to_numpy() == silent).all()
        else:
            assert rows["label"].isna().all()
