"""Units of the feature pipeline: shape, dtypes, catalogue, templates, errors."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pandas as pd
import pytest

from ghost_model.contract import STAGES_WITH_CONTEXT, TABLES
from ghost_model.dataset import DatasetConfig
from ghost_model.errors import ConfigError, DataContractError
from ghost_model.features import (
    FeatureConfig,
    FeatureTable,
    build_feature_table,
    load_catalogue,
    monthly_cutoffs,
    render_reason,
)
from ghost_model.features.testing import random_dataset
from ghost_model.loaders import validate_tables


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    dataset = random_dataset(partners=10, days=420, seed=3)
    return build_feature_table(dataset, monthly_cutoffs(dataset))


def test_build_feature_table_dtypes_canonical(table: FeatureTable) -> None:
    """Check that keys, features and label carry the agreed dtypes."""
    frame = table.frame
    assert list(frame.columns[:2]) == ["partner_id", "as_of"]
    assert frame["partner_id"].dtype == "str"
    assert str(frame["as_of"].dtype) == "datetime64[us, UTC]"
    assert str(frame["label"].dtype) == "Int8"
    assert frame["tier"].dtype == "str"
    numeric = [n for n in table.feature_names if n != "tier"]
    assert all(frame[n].dtype == np.float64 for n in numeric)
    assert list(frame.columns[2:-1]) == table.feature_names
    assert not frame.duplicated(["partner_id", "as_of"]).any()


def test_build_feature_table_feature_count_sensible(table: FeatureTable) -> None:
    """Check that a full dataset yields between 50 and 80 features, no stage empty."""
    assert 50 <= len(table.feature_names) <= 80
    assert table.stages_without_data == []


def test_load_catalogue_covers_every_column(table: FeatureTable) -> None:
    """Check that every feature column has exactly one well-formed catalogue entry."""
    catalogue = load_catalogue()
    assert set(table.feature_names) == set(catalogue)
    for name, spec in catalogue.items():
        assert spec.name == name
        assert spec.stage in STAGES_WITH_CONTEXT
        assert spec.level in ("partner", "rep")
        assert set(spec.tables) <= set(TABLES)
        assert spec.description
        assert spec.unit
        assert "<" not in spec.template_en + spec.template_ja


def test_render_reason_every_row_both_languages(table: FeatureTable) -> None:
    """Check that every template renders for every row in English and Japanese."""
    catalogue = load_catalogue()
    rows = table.frame.to_dict("records")
    for spec in catalogue.values():
        for row in rows:
            english = render_reason(spec, row, "en")
            japanese = render_reason(spec, row, "ja")
            for text in (english, japanese):
                assert "{" not in text
                assert not re.search(r"\bnan\b|<NA>", text)


def test_render_reason_missing_value_reads_na() -> None:
    """Check that a missing number is written as n/a (不明 in Japanese)."""
    spec = load_catalogue()["days_since_last_win"]
    row = {"days_since_last_win": math.nan}
    assert render_reason(spec, row, "en") == "Days since the last win: n/a"
    assert "不明" in render_reason(spec, row, "ja")


def test_render_reason_partner_numbers_in_sentence() -> None:
    """Check that a template carries the partner's own numbers."""
    spec = load_catalogue()["inbound_questions_trend_90d"]
    row = {"inbound_questions_90d": 2.0, "inbound_questions_prev_90d": 9.0}
    assert render_reason(spec, row, "en") == (
        "Questions from the partner: 2 in the last 90 days, 9 in the 90 days before"
    )
    assert render_reason(spec, row, "ja") == (
        "パートナーからの質問: 直近90日で2件(その前の90日は9件)"
    )


def test_render_reason_unknown_language_raises() -> None:
    """Check that an unsupported language is refused with the allowed ones."""
    spec = load_catalogue()["deals_90d"]
    with pytest.raises(ConfigError, match="expected one of en, ja"):
        render_reason(spec, {"deals_90d": 1.0}, "fr")


def test_build_feature_table_deals_only_no_distance() -> None:
    """Check that a deals-only dataset builds and reports distance as without data."""
    dataset = random_dataset(partners=6, days=300, seed=5, tables=("deals",))
    table = build_feature_table(dataset, monthly_cutoffs(dataset))
    assert table.stages_without_data == ["distance"]
    catalogue = load_catalogue()
    stages = {catalogue[n].stage for n in table.feature_names}
    assert "distance" not in stages
    assert {"sellability", "priority", "context"} <= stages
    assert "tier" not in table.feature_names
    assert len(table.frame) > 0


def test_build_feature_table_without_deals_raises() -> None:
    """Check that a dataset without deals is refused naming the table."""
    dataset = random_dataset(partners=3, days=100, seed=1)
    del dataset.tables["deals"]
    with pytest.raises(DataContractError, match="no table 'deals'"):
        build_feature_table(dataset, ["2023-03-01"])


def test_build_feature_table_cutoff_not_midnight_raises() -> None:
    """Check that a cutoff that is not local midnight is refused with a fix."""
    dataset = random_dataset(partners=3, days=100, seed=1)
    with pytest.raises(ConfigError, match="cutoffs are midnight in that zone"):
        build_feature_table(dataset, [pd.Timestamp("2023-03-01 00:00", tz="UTC")])


def test_build_feature_table_cutoff_too_late_for_label_window_raises() -> None:
    """Check that a cutoff whose label window would pass year 9999 is refused."""
    dataset = random_dataset(partners=3, days=100, seed=1)
    with pytest.raises(ConfigError, match="on or before 9998-12-31"):
        build_feature_table(dataset, ["9999-12-31"])


def test_build_feature_table_unknown_backend_raises() -> None:
    """Check that an unknown backend name is refused."""
    dataset = random_dataset(partners=3, days=100, seed=1)
    with pytest.raises(ConfigError, match="expected 'duckdb'"):
        build_feature_table(dataset, ["2023-03-01"], backend="sqlite")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"windows": (90, 30, 180)}, "three increasing"),
        ({"horizon_days": 0}, "horizon_days=0"),
        ({"frequency": "daily"}, "frequency='daily'"),
        ({"lookback_days": 10**8}, "from 1 to 3660"),
        ({"horizon_days": True}, "horizon_days=True"),
        ({"windows": (30, 90, 10**9)}, "up to 3660"),
    ],
)
def test_feature_config_bad_values_raise(
    kwargs: dict[str, object], message: str
) -> None:
    """Check that out-of-range settings are refused naming the setting."""
    with pytest.raises(ConfigError, match=message):
        FeatureConfig(**kwargs)  # type: ignore[arg-type]


def test_monthly_cutoffs_first_of_month_local_midnight() -> None:
    """Check that cutoffs are the 1st of each month at midnight in the dataset zone."""
    dataset = random_dataset(partners=3, days=200, seed=2, timezone="Asia/Tokyo")
    cutoffs = monthly_cutoffs(dataset)
    assert cutoffs
    for cutoff in cutoffs:
        local = cutoff.tz_convert("Asia/Tokyo")
        assert (local.day, local.hour, local.minute) == (1, 0, 0)
        assert cutoff <= dataset.extract_time
    assert cutoffs == sorted(cutoffs)


def test_monthly_cutoffs_quarterly_frequency() -> None:
    """Check that the quarterly frequency keeps January, April, July and October."""
    dataset = random_dataset(partners=3, days=400, seed=2)
    cutoffs = monthly_cutoffs(dataset, FeatureConfig(frequency="quarterly"))
    months = {c.tz_convert(dataset.timezone).month for c in cutoffs}
    assert months <= {1, 4, 7, 10}


def test_build_feature_table_reps_columns(table: FeatureTable) -> None:
    """Check that the rep table has one row per rep and cutoff with display columns."""
    reps = table.reps
    expected = {
        "partner_id",
        "rep_id",
        "as_of",
        "deals_90d",
        "deals_180d",
        "won_180d",
        "days_since_last_activity",
        "tenure_days",
        "on_roster",
        "departed",
        "ever_sold",
        "quiet",
    }
    assert expected <= set(reps.columns)
    assert not reps.duplicated(["partner_id", "rep_id", "as_of"]).any()
    assert reps["quiet"].dtype == bool
    assert not (reps["quiet"] & ~reps["ever_sold"]).any()
    keys = set(zip(table.frame["partner_id"], table.frame["as_of"], strict=True))
    assert set(zip(reps["partner_id"], reps["as_of"], strict=True)) <= keys


def test_build_feature_table_cutoff_day_starting_after_clock_gap() -> None:
    """Check that a day without local midnight starts after the gap, not an error.

    In Sao Paulo the clocks went from 00:00 to 01:00 on 2018-11-04: that day's
    cutoff is 01:00 local (03:00 UTC); a deal at 23:30 the evening before is seen, a
    deal at 01:30 that day is in the label's window.
    """
    config = DatasetConfig(
        timezone="America/Sao_Paulo",
        extract_time=pd.Timestamp("2019-06-01", tz="UTC"),
        name="clock-gap",
    )
    deals = pd.DataFrame(
        {
            "deal_id": ["D1", "D2", "D3"],
            "partner_id": ["P1"] * 3,
            "registered_at": [
                "2018-09-01T10:00:00-03:00",
                "2018-11-03T23:30:00-03:00",
                "2018-11-04T01:30:00-02:00",
            ],
        }
    )
    dataset = validate_tables({"deals": deals}, config)
    row = build_feature_table(dataset, ["2018-11-04"]).frame.iloc[0]
    assert row["as_of"] == pd.Timestamp("2018-11-04T03:00:00", tz="UTC")
    assert row["deals_30d"] == 1.0
    assert row["days_since_last_deal"] == 1.0
    assert row["label"] == 0


def test_build_feature_table_win_cycles_exact_in_any_row_order() -> None:
    """Check that registration-to-order times are the same to the last bit whatever
    the row order (summed as whole microseconds; float sums depend on the order)."""
    dataset = random_dataset(partners=3, days=400, events_per_partner=600, seed=5)
    cutoffs = monthly_cutoffs(dataset)
    columns = ["win_cycle_days_180d", "win_cycle_days_history", "win_cycle_vs_history"]
    first = build_feature_table(dataset, cutoffs).frame[columns]
    for seed in range(3):
        deals = dataset.tables["deals"]
        dataset.tables["deals"] = deals.sample(frac=1.0, random_state=seed)
        again = build_feature_table(dataset, cutoffs).frame[columns]
        pd.testing.assert_frame_equal(again, first, check_exact=True)
    assert first["win_cycle_days_history"].notna().any()


def test_monthly_cutoffs_extract_time_past_calendar_raises() -> None:
    """Check that an extract time in year 9999 is refused before cutoffs are made."""
    dataset = random_dataset(partners=2, days=60, seed=1)
    late = dataclasses.replace(
        dataset.config, extract_time=pd.Timestamp("9999-06-30T00:00:00Z")
    )
    dataset = dataclasses.replace(dataset, config=late)

    with pytest.raises(ConfigError, match="extract_time 9999-06-30T00:00:00"):
        monthly_cutoffs(dataset)


@pytest.mark.parametrize(
    ("cutoffs", "message"),
    [
        ("2023-03-01", "expected a list of cutoffs"),
        ([None], "missing"),
        ([pd.NaT], "missing"),
        ([float("nan")], "a number, not a date"),
        ([20230301], "a number, not a date"),
        (["tomorrow"], "not an ISO 8601 date"),
        (["2023-02-30"], "not a date or an instant"),
        ([pd.Timestamp("2023-03-01 23:59")], "a time of day without a zone"),
    ],
)
def test_build_feature_table_bad_cutoff_values_raise(
    cutoffs: object, message: str
) -> None:
    """Check that a cutoff that is not a date is refused, never read as another day
    (a number as nanoseconds since 1970, a naive time truncated to its midnight)."""
    dataset = random_dataset(partners=3, days=100, seed=1)
    with pytest.raises(ConfigError, match=message):
        build_feature_table(dataset, cutoffs)  # type: ignore[arg-type]


def test_build_feature_table_cutoff_after_data_raises() -> None:
    """Check that a cutoff after the extract is refused: every partner would look
    silent there, as the command line's --as-of already refuses."""
    dataset = random_dataset(partners=3, days=100, seed=1)
    latest = dataset.extract_time.tz_convert(dataset.timezone).date()
    build_feature_table(dataset, [latest])
    later = latest + pd.Timedelta(days=31)
    with pytest.raises(ConfigError, match="lie after the data"):
        build_feature_table(dataset, [latest, later])


def test_extract_stamped_end_of_day_covers_the_day() -> None:
    """Check that an extract stamped 23:59:59 covers its day: the next midnight is a
    monthly cutoff and a label window ending there is labeled, as with an extract at
    that midnight."""
    dataset = random_dataset(partners=6, days=365, seed=4)
    midnight = pd.Timestamp("2023-12-01", tz=dataset.timezone).tz_convert("UTC")
    at_midnight = dataclasses.replace(dataset.config, extract_time=midnight)
    end_of_day = dataclasses.replace(
        dataset.config, extract_time=midnight - pd.Timedelta(seconds=1)
    )
    # 2023-09-01 + 91 days = 2023-12-01: that cutoff's label window ends at midnight
    features = FeatureConfig(horizon_days=91)
    frames = {}
    for name, config in [("midnight", at_midnight), ("end of day", end_of_day)]:
        dataset.config = config
        cutoffs = monthly_cutoffs(dataset, features)
        assert cutoffs[-1] == midnight
        frames[name] = build_feature_table(dataset, cutoffs, features).frame
    september = pd.Timestamp("2023-09-01", tz=dataset.timezone).tz_convert("UTC")
    for frame in frames.values():
        assert frame.loc[frame["as_of"] == september, "label"].notna().all()
    pd.testing.assert_frame_equal(frames["end of day"], frames["midnight"])


def test_build_feature_table_skipped_day_refused_naming_next() -> None:
    """Check that a day a zone's calendar skipped (Samoa moved across the date line
    after 2011-12-29) is refused naming the day, not as a timestamp never typed."""
    config = DatasetConfig(
        timezone="Pacific/Apia",
        extract_time=pd.Timestamp("2012-06-01", tz="UTC"),
        name="date-line",
    )
    deals = pd.DataFrame(
        {"deal_id": ["D1"], "partner_id": ["P1"], "registered_at": ["2011-11-01"]}
    )
    dataset = validate_tables({"deals": deals}, config)
    with pytest.raises(ConfigError, match=r"2011-12-30 does not exist .* 2011-12-31"):
        build_feature_table(dataset, ["2011-12-30"])


@pytest.mark.parametrize(
    ("cutoffs", "message"),
    [
        (None, "expected a list of cutoffs"),
        (5, "expected a list of cutoffs"),
        ([], "the list of cutoffs is empty"),
        (["0001-01-01"], "before 1900-01-01"),
        ([pd.Timestamp("1899-12-31T15:00Z")], "before 1900-01-01"),
    ],
)
def test_build_feature_table_no_or_early_cutoffs_raise(
    cutoffs: object, message: str
) -> None:
    """Check that no cutoffs, or one before the supported range, is a ConfigError
    that says so (not a TypeError, nor 'needs at least one deal')."""
    dataset = random_dataset(partners=3, days=100, seed=1)
    with pytest.raises(ConfigError, match=message):
        build_feature_table(dataset, cutoffs)  # type: ignore[arg-type]


def test_build_feature_table_cutoff_not_iso_refused() -> None:
    """Check that '01/02/2023' is refused, not read month first as 2 January."""
    dataset = random_dataset(partners=3, days=100, seed=1)
    with pytest.raises(ConfigError, match="not an ISO 8601 date"):
        build_feature_table(dataset, ["01/02/2023"])
