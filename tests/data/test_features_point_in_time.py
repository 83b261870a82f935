"""Point-in-time properties of the feature table: nothing at or after t leaks in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ghost_model.dataset import Dataset, cutoff_instant
from ghost_model.features import FeatureConfig, FeatureTable, build_feature_table
from ghost_model.features.testing import random_dataset

ZONE = "Asia/Tokyo"
CUTOFF = cutoff_instant("2023-07-01", ZONE)
SECONDS_AFTER = 200 * 86400

BASE = random_dataset(
    partners=6, days=300, events_per_partner=30, seed=21, timezone=ZONE
)
# two reps whose only deals lie 180-365 days before t: past every rep window, inside
# the long look-back below
_OLD_DEALS = pd.DataFrame(
    {
        "deal_id": pd.Series(["DOLD1", "DOLD2"], dtype="str"),
        "partner_id": pd.Series(["P000", "P001"], dtype="str"),
        "registered_at": pd.Series(
            pd.to_datetime(["2022-10-15T10:00Z", "2022-11-01T03:00Z"])
        ).astype("datetime64[us, UTC]"),
        "rep_id": pd.Series(["ROLD1", "ROLD2"], dtype="str"),
        "closed_at": pd.Series(
            pd.to_datetime(["2022-11-20T10:00Z", "2022-12-01T03:00Z"])
        ).astype("datetime64[us, UTC]"),
        "outcome": pd.Series(["won", "lost"], dtype="str"),
        "amount": [1000.0, 2000.0],
    }
)
BASE.tables["deals"] = pd.concat([BASE.tables["deals"], _OLD_DEALS], ignore_index=True)
_ROSTER = BASE.tables["partner_reps"]
REP_PARTNER = {
    **dict(zip(_ROSTER["rep_id"], _ROSTER["partner_id"], strict=True)),
    "ROLD1": "P000",
    "ROLD2": "P001",
}
OFF_ROSTER = sorted(["ROLD1", "ROLD2", *_ROSTER["rep_id"].iloc[::5]])
"""Reps with deals before t that the base roster does not list; rows appended later
may list them, joining at or after t."""
BASE.tables["partner_reps"] = _ROSTER[~_ROSTER["rep_id"].isin(OFF_ROSTER)].reset_index(
    drop=True
)

CONFIGS = {
    "default": FeatureConfig(),
    # a look-back past the longest window keeps reps whose last deal is older than
    # every rep window, whose rows only the roster state decides
    "long look-back": FeatureConfig(lookback_days=365),
}


def _copy(dataset: Dataset) -> Dataset:
    tables = {name: frame.copy() for name, frame in dataset.tables.items()}
    return Dataset(tables=tables, config=dataset.config, source=dataset.source)


def _features(table: FeatureTable) -> pd.DataFrame:
    return table.frame.drop(columns="label")


@pytest.fixture(scope="module")
def base_table() -> FeatureTable:
    return build_feature_table(BASE, [CUTOFF])


@pytest.fixture(scope="module")
def base_tables() -> dict[str, FeatureTable]:
    return {
        name: build_feature_table(BASE, [CUTOFF], config)
        for name, config in CONFIGS.items()
    }


def _later(rng: np.random.Generator, n: int, on_cutoff: float = 0.3) -> pd.Series:
    """Instants at or after the cutoff, a share of them exactly on it."""
    seconds = rng.integers(0, SECONDS_AFTER, n)
    seconds[rng.random(n) < on_cutoff] = 0
    stamps = CUTOFF + pd.to_timedelta(seconds, unit="s")
    return pd.Series(stamps).astype("datetime64[us, UTC]")


def _append_later_events(dataset: Dataset, rng: np.random.Generator) -> None:
    """Append rows to every table whose own instant is at or after the cutoff."""
    partners = [*list(dataset.tables["partners"]["partner_id"]), "PNEW"]
    reps = [*list(dataset.tables["partner_reps"]["rep_id"]), "RNEW1", "RNEW2"]
    n = int(rng.integers(1, 12))

    def ids(prefix: str) -> pd.Series:
        return pd.Series([f"{prefix}{i}" for i in range(n)], dtype="str")

    def pick(values: list[str]) -> pd.Series:
        return pd.Series(rng.choice(values, n), dtype="str")

    start = _later(rng, n)
    # reps who sold before t but were not on the roster: some join it at or after t
    listed = [r for r in OFF_ROSTER if rng.random() < 0.5]
    new = {
        "deals": pd.DataFrame(
            {
                "deal_id": ids("DNEW"),
                "partner_id": pick(partners),
                "registered_at": start,
                "rep_id": pick(reps),
                "closed_at": (start + pd.Timedelta(days=3)).where(rng.random(n) < 0.5),
                "outcome": pick(["won", "lost", "open"]),
                "amount": rng.random(n),
            }
        ),
        "interactions": pd.DataFrame(
            {
                "interaction_id": ids("INEW"),
                "partner_id": pick(partners),
                "occurred_at": start,
                "direction": pick(["inbound", "outbound"]),
                "kind": pick(["question", "consultation", "report"]),
                "channel": pick(["email"]),
                "responded_at": start + pd.Timedelta(hours=5),
            }
        ),
        "portal_views": pd.DataFrame(
            {
                "partner_id": pick(partners),
                "viewed_at": start,
                "asset": pick(["deck"]),
            }
        ),
        "partner_reps": pd.DataFrame(
            {
                "rep_id": pd.Series(["RNEW1", "RNEW2", *listed], dtype="str"),
                "partner_id": pd.Series(
                    [*rng.choice(partners, 2), *[REP_PARTNER[r] for r in listed]],
                    dtype="str",
                ),
                "joined_at": _later(rng, 2 + len(listed)),
                "left_at": pd.Series(
                    [pd.NaT] * (2 + len(listed)), dtype="datetime64[us, UTC]"
                ),
            }
        ),
        "psm_assignments": pd.DataFrame(
            {
                "partner_id": pick(partners),
                "psm_id": pick(["M0", "M1", "MNEW"]),
                "assigned_at": start,
                "unassigned_at": start + pd.Timedelta(days=30),
            }
        ),
        "partners": pd.DataFrame(
            {
                "partner_id": pd.Series(["PNEW"], dtype="str"),
                "name": pd.Series(["New"], dtype="str"),
                "tier": pd.Series(["gold"], dtype="str"),
                "signed_at": _later(rng, 1),
                "terminated_at": pd.Series([pd.NaT], dtype="datetime64[us, UTC]"),
            }
        ),
    }
    for name, rows in new.items():
        frame = dataset.tables[name]
        rows = rows.astype({c: frame[c].dtype for c in rows.columns})
        dataset.tables[name] = pd.concat([frame, rows], ignore_index=True)


def _rewrite_later_values(dataset: Dataset, rng: np.random.Generator) -> None:
    """Change end instants (and outcomes) that lie at or after the cutoff."""
    ends = {
        "deals": "closed_at",
        "partner_reps": "left_at",
        "psm_assignments": "unassigned_at",
        "interactions": "responded_at",
        "partners": "terminated_at",
    }
    for name, column in ends.items():
        frame = dataset.tables[name]
        later = (frame[column] >= CUTOFF).to_numpy()
        n = int(later.sum())
        if n == 0:
            continue
        values = _later(rng, n).to_numpy()
        cleared = rng.random(n) < 0.3
        frame.loc[later, column] = pd.Series(values).where(~cleared).to_numpy()
        if name == "deals":
            outcomes = rng.choice(["won", "lost", "open"], n)
            frame.loc[later, "outcome"] = outcomes


@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    rewrite=st.booleans(),
    config=st.sampled_from(sorted(CONFIGS)),
)
def test_build_feature_table_later_events_no_effect(
    base_tables: dict[str, FeatureTable], seed: int, rewrite: bool, config: str
) -> None:
    """Check that adding events at/after t, or changing end instants at/after t,
    leaves every feature at t (partner rows and rep rows) unchanged."""
    rng = np.random.default_rng(seed)
    dataset = _copy(BASE)
    _append_later_events(dataset, rng)
    if rewrite:
        _rewrite_later_values(dataset, rng)
    table = build_feature_table(dataset, [CUTOFF], CONFIGS[config])
    base = base_tables[config]
    pd.testing.assert_frame_equal(_features(table), _features(base))
    pd.testing.assert_frame_equal(table.reps, base.reps)


def test_build_feature_table_shuffled_rows_same(base_table: FeatureTable) -> None:
    """Check that the order of the rows in the source tables changes nothing."""
    dataset = _copy(BASE)
    for name, frame in dataset.tables.items():
        dataset.tables[name] = frame.sample(frac=1.0, random_state=4).reset_index(
            drop=True
        )
    table = build_feature_table(dataset, [CUTOFF])
    pd.testing.assert_frame_equal(table.frame, base_table.frame)
    pd.testing.assert_frame_equal(table.reps, base_table.reps)


def test_build_feature_table_instants_other_zone_same(base_table: FeatureTable) -> None:
    """Check that the same instants written in another time zone change nothing."""
    dataset = _copy(BASE)
    for frame in dataset.tables.values():
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                frame[column] = frame[column].dt.tz_convert("America/Sao_Paulo")
    table = build_feature_table(dataset, [CUTOFF])
    pd.testing.assert_frame_equal(table.frame, base_table.frame)
