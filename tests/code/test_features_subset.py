"""A feature subset: the same values as the whole table, less work, checked names."""

from __future__ import annotations

import pandas as pd
import pytest

from ghost_model.errors import ConfigError
from ghost_model.features import (
    FeatureConfig,
    FeatureTable,
    build_feature_table,
    compiled_sql,
    monthly_cutoffs,
)
from ghost_model.features.testing import random_dataset

LOOP_FEATURES = [
    "deals_90d",
    "days_since_last_deal",
    "inbound_questions_90d",
    "portal_views_90d",
]
PRESENT = (
    "partners",
    "partner_reps",
    "interactions",
    "portal_views",
    "psm_assignments",
)
DATASET = random_dataset(partners=10, days=420, seed=5)


@pytest.fixture(scope="module")
def whole() -> FeatureTable:
    return build_feature_table(DATASET, monthly_cutoffs(DATASET))


@pytest.mark.parametrize(
    "features",
    [
        LOOP_FEATURES,
        ["quiet_reps", "n_reps", "roster_never_sold_share", "tier"],
        ["response_hours_median_90d", "psm_load", "open_deals", "win_rate_90d"],
        ["month_of_year"],
    ],
)
def test_build_feature_table_subset_equals_whole_columns(
    whole: FeatureTable, features: list[str]
) -> None:
    """Check that a subset holds exactly the whole table's rows and values."""
    table = build_feature_table(DATASET, monthly_cutoffs(DATASET), features=features)
    expected = whole.frame[["partner_id", "as_of", *whole.feature_names, "label"]]
    ordered = [n for n in whole.feature_names if n in features]
    assert table.feature_names == ordered
    pd.testing.assert_frame_equal(
        table.frame, expected[["partner_id", "as_of", *ordered, "label"]]
    )


def test_compiled_sql_subset_leaves_unread_steps_out() -> None:
    """Check that the loop's features read neither rep rows nor PSM assignments."""
    queries = dict(compiled_sql(FeatureConfig(), PRESENT, tuple(LOOP_FEATURES)))
    assert list(queries) == ["gm_deal_days", "gm_population", "partners"]
    assert "gm_psm_assignments" not in queries["partners"]
    assert "gm_rep_rows" not in queries["partners"]
    whole = dict(compiled_sql(FeatureConfig(), PRESENT))
    assert list(whole) == [
        "gm_deal_days",
        "gm_population",
        "gm_rep_rows",
        "partners",
        "reps",
    ]
    assert len(queries["partners"]) < len(whole["partners"]) / 2
    # the month is a population column: the deal days are read through it
    month = dict(compiled_sql(FeatureConfig(), PRESENT, ("month_of_year",)))
    assert list(month) == ["gm_deal_days", "gm_population", "partners"]


def test_build_feature_table_subset_reps_empty_when_unread(whole: FeatureTable) -> None:
    """Check that reps is empty, with the display columns, when no rep rows are read."""
    table = build_feature_table(
        DATASET, monthly_cutoffs(DATASET), features=["deals_30d"]
    )
    assert table.reps.empty
    assert list(table.reps.columns) == list(whole.reps.columns)
    with_reps = build_feature_table(
        DATASET, monthly_cutoffs(DATASET), features=["quiet_reps"]
    )
    pd.testing.assert_frame_equal(with_reps.reps, whole.reps)


def test_build_feature_table_subset_unknown_name_refused() -> None:
    """Check that a name outside the catalogue is refused, naming it."""
    with pytest.raises(ConfigError, match=r"\['deals_91d'\]: not in the feature"):
        build_feature_table(DATASET, ["2023-06-01"], features=["deals_91d"])


def test_build_feature_table_subset_absent_table_refused() -> None:
    """Check that a feature whose table the dataset lacks is refused."""
    deals_only = random_dataset(partners=4, days=200, seed=1, tables=("deals",))
    with pytest.raises(ConfigError, match="tables are not all in the dataset"):
        build_feature_table(
            deals_only, ["2023-06-01"], features=["inbound_questions_90d"]
        )


def test_build_feature_table_subset_empty_refused() -> None:
    """Check that an empty subset is refused rather than read as every feature."""
    with pytest.raises(ConfigError, match=r"features=\[\]: expected at least one"):
        build_feature_table(DATASET, ["2023-06-01"], features=[])


def test_build_feature_table_subset_one_name_as_text_refused() -> None:
    """Check that one name given as text is refused, not read letter by letter."""
    with pytest.raises(ConfigError, match="expected a list of feature names"):
        build_feature_table(DATASET, ["2023-06-01"], features="deals_90d")
