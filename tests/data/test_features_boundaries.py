"""Boundaries of the point-in-time rules, on hand-made partners."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ghost_model.dataset import Dataset, DatasetConfig, cutoff_instant
from ghost_model.features import FeatureConfig, FeatureTable, build_feature_table

ZONE = "Asia/Tokyo"
T = cutoff_instant("2024-04-01", ZONE)
TS = "datetime64[us, UTC]"


def _at(days: float) -> pd.Timestamp:
    """The instant ``days`` days after the cutoff (negative: before)."""
    return T + pd.Timedelta(days=days)


def _ts(values: list[object]) -> pd.Series:
    return pd.Series(values, dtype=TS)


def _str(values: list[object]) -> pd.Series:
    return pd.Series(values, dtype="str")


def _dataset(extract_days: float = 200.0) -> Dataset:
    """Partners built to sit on one boundary each (A..F, see the tests)."""
    deals = [
        # A: a deal exactly at t (label window, not features), one 10 days before
        ("d1", "A", _at(-10), "ra1", None, "open"),
        ("d2", "A", T, "ra1", None, "open"),
        # B: last deal 100 days before t; next deal exactly at t + 90 days
        ("d3", "B", _at(-100), "rb1", _at(-95), "lost"),
        ("d4", "B", _at(90), "rb1", None, "open"),
        # C: signed after t, with a deal before t
        ("d5", "C", _at(-20), None, None, "open"),
        # D: deal closed exactly at t (still open at t), won
        ("d6", "D", _at(-40), "rd1", T, "won"),
        # E: deal won before t, rep leaves exactly at t, question answered at t
        ("d7", "E", _at(-60), "re1", _at(-50), "won"),
        # F: terminated before t
        ("d8", "F", _at(-30), None, None, "open"),
    ]
    frame = pd.DataFrame(
        deals,
        columns=[
            "deal_id",
            "partner_id",
            "registered_at",
            "rep_id",
            "closed_at",
            "outcome",
        ],
    )
    tables = {
        "deals": pd.DataFrame(
            {
                "deal_id": _str(list(frame.deal_id)),
                "partner_id": _str(list(frame.partner_id)),
                "registered_at": _ts(list(frame.registered_at)),
                "rep_id": _str(list(frame.rep_id)),
                "closed_at": _ts(list(frame.closed_at)),
                "outcome": _str(list(frame.outcome)),
            }
        ),
        "partners": pd.DataFrame(
            {
                "partner_id": _str(list("ABCDEF")),
                "tier": _str(["gold"] * 6),
                "signed_at": _ts([_at(-400)] * 2 + [_at(1)] + [_at(-400)] * 3),
                "terminated_at": _ts([None] * 5 + [_at(-1)]),
            }
        ),
        "partner_reps": pd.DataFrame(
            {
                "rep_id": _str(["ra1", "rb1", "rd1", "re1"]),
                "partner_id": _str(["A", "B", "D", "E"]),
                "joined_at": _ts([_at(-300)] * 4),
                "left_at": _ts([None, None, None, T]),
            }
        ),
        "interactions": pd.DataFrame(
            {
                "interaction_id": _str(["i1", "i2"]),
                "partner_id": _str(["E", "E"]),
                "occurred_at": _ts([_at(-5), T]),
                "direction": _str(["inbound", "inbound"]),
                "kind": _str(["question", "question"]),
                "responded_at": _ts([T, _at(1)]),
            }
        ),
    }
    config = DatasetConfig(timezone=ZONE, extract_time=_at(extract_days))
    return Dataset(tables=tables, config=config, source="boundaries")


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return build_feature_table(_dataset(), [T])


def _row(table: FeatureTable, partner: str) -> pd.Series:
    rows = table.frame[table.frame["partner_id"] == partner]
    assert len(rows) == 1, f"partner {partner} not in the population"
    return rows.iloc[0]


def test_build_feature_table_event_at_cutoff_label_not_features(
    table: FeatureTable,
) -> None:
    """Check that a deal exactly at t counts for the label and not for the features."""
    row = _row(table, "A")
    assert row["deals_30d"] == 1.0
    assert row["days_since_last_deal"] == 10.0
    assert row["open_deals"] == 1.0
    assert row["label"] == 0


def test_build_feature_table_deal_at_horizon_outside_label(table: FeatureTable) -> None:
    """Check that a deal exactly at t + 90 days is outside the label window."""
    assert _row(table, "B")["label"] == 1


def test_build_feature_table_signed_after_cutoff_not_in_population(
    table: FeatureTable,
) -> None:
    """Check that a partner signed after t is not in the population at t."""
    assert "C" not in set(table.frame["partner_id"])


def test_build_feature_table_terminated_before_cutoff_not_in_population(
    table: FeatureTable,
) -> None:
    """Check that a partner terminated before t is not in the population at t."""
    assert "F" not in set(table.frame["partner_id"])


def test_build_feature_table_empty_window_zero_days_since_missing(
    table: FeatureTable,
) -> None:
    """Check that no events in a window give count 0 and a missing days-since."""
    row = _row(table, "B")
    assert row["deals_30d"] == 0.0
    assert row["deals_90d"] == 0.0
    assert row["deals_180d"] == 1.0
    assert row["inbound_questions_90d"] == 0.0
    assert math.isnan(row["days_since_last_win"])
    assert math.isnan(row["response_hours_median_90d"])


def test_build_feature_table_closed_at_cutoff_still_open(table: FeatureTable) -> None:
    """Check that a deal closed exactly at t is open at t and not a win yet."""
    row = _row(table, "D")
    assert row["open_deals"] == 1.0
    assert row["wins_180d"] == 0.0
    assert math.isnan(row["days_since_last_win"])


def test_build_feature_table_rep_leaving_at_cutoff_on_roster(
    table: FeatureTable,
) -> None:
    """Check that a rep leaving exactly at t is still on the roster at t."""
    row = _row(table, "E")
    assert row["n_reps"] == 1.0
    assert row["departed_sellers_180d"] == 0.0
    rep = table.reps[table.reps["rep_id"] == "re1"].iloc[0]
    assert bool(rep["on_roster"])
    assert not bool(rep["departed"])
    assert bool(rep["ever_sold"])


def test_build_feature_table_answer_at_cutoff_unanswered(table: FeatureTable) -> None:
    """Check that a question answered exactly at t is unanswered at t."""
    row = _row(table, "E")
    assert row["inbound_questions_30d"] == 1.0
    assert row["unanswered_share_90d"] == 1.0


def test_build_feature_table_label_window_past_extract_unlabeled() -> None:
    """Check that a cutoff whose label window passes the extract time is unlabeled."""
    table = build_feature_table(_dataset(extract_days=89), [T])
    assert table.frame["label"].isna().all()
    assert len(table.frame) == 4


def test_build_feature_table_rep_joining_at_cutoff_as_unlisted() -> None:
    """Check that a rep joining the roster exactly at t counts as one it does not
    list: a seller whose last deal is older than every rep window stays a quiet rep
    (kept by a look-back of 365 days) whether or not the later roster row exists."""
    config = FeatureConfig(lookback_days=365)
    dataset = _dataset()
    old = pd.DataFrame(
        {
            "deal_id": _str(["d9"]),
            "partner_id": _str(["A"]),
            "registered_at": _ts([_at(-250)]),
            "rep_id": _str(["ra2"]),
            "closed_at": _ts([_at(-240)]),
            "outcome": _str(["won"]),
        }
    )
    dataset.tables["deals"] = pd.concat(
        [dataset.tables["deals"], old], ignore_index=True
    )
    before = build_feature_table(dataset, [T], config)
    joined = pd.DataFrame(
        {
            "rep_id": _str(["ra2"]),
            "partner_id": _str(["A"]),
            "joined_at": _ts([T]),
            "left_at": _ts([None]),
        }
    )
    roster = dataset.tables["partner_reps"]
    dataset.tables["partner_reps"] = pd.concat([roster, joined], ignore_index=True)
    after = build_feature_table(dataset, [T], config)

    rep = after.reps[after.reps["rep_id"] == "ra2"]
    assert len(rep) == 1
    assert bool(rep["quiet"].iloc[0])
    assert not bool(rep["on_roster"].iloc[0])
    assert _row(after, "A")["quiet_reps"] == 1.0
    pd.testing.assert_frame_equal(after.frame, before.frame)
    pd.testing.assert_frame_equal(after.reps, before.reps)
