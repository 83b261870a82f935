"""Properties of the synthetic partner ecosystem: contract, truth, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
import yaml

from ghost_model.contract import STAGES, TABLES, TIMESTAMP_DTYPE
from ghost_model.errors import ConfigError
from ghost_model.loaders import load_dataset, validate_tables
from ghost_model.simulate import SimulatedEcosystem, simulate_ecosystem

TRUTH_COLUMNS = [
    "partner_id",
    "decline_start",
    "root_stage",
    "silent_from",
    "recovered",
    "terminated_at",
]


def test_simulate_ecosystem_same_seed_identical_tables() -> None:
    """Check that the same arguments give identical tables and truth."""
    first = simulate_ecosystem(partners=120, months=9, seed=5)
    second = simulate_ecosystem(partners=120, months=9, seed=5)

    for name in TABLES:
        pdt.assert_frame_equal(first.tables[name], second.tables[name])
    pdt.assert_frame_equal(first.truth, second.truth)
    assert first.config == second.config


def test_simulate_ecosystem_other_seed_different_deals() -> None:
    """Check that another seed gives another ecosystem."""
    first = simulate_ecosystem(partners=120, months=9, seed=5)
    other = simulate_ecosystem(partners=120, months=9, seed=6)

    assert not first.tables["deals"].equals(other.tables["deals"])


def test_simulate_ecosystem_columns_canonical_dtypes(
    small_ecosystem: SimulatedEcosystem,
) -> None:
    """Check that every table has the contract's columns, in canonical dtypes."""
    assert list(small_ecosystem.tables) == list(TABLES)
    for name, spec in TABLES.items():
        table = small_ecosystem.tables[name]
        assert list(table.columns) == list(spec.column_names), name
        assert len(table) > 0, name
        for column in spec.columns:
            dtype = table[column.name].dtype
            if column.kind == "timestamp":
                assert str(dtype) == TIMESTAMP_DTYPE, (name, column.name)
            elif column.kind == "number":
                assert dtype == np.float64, (name, column.name)
            else:
                assert dtype == "str", (name, column.name, dtype)


def test_simulate_ecosystem_config_tokyo_extract_at_period_end(
    small_ecosystem: SimulatedEcosystem,
) -> None:
    """Check that the config is Asia/Tokyo and the extract time ends the period."""
    config = small_ecosystem.config
    expected_end = pd.Timestamp("2024-04-01", tz="Asia/Tokyo").tz_convert("UTC")

    assert config.timezone == "Asia/Tokyo"
    assert config.extract_time == expected_end
    for name, spec in TABLES.items():
        assert small_ecosystem.tables[name][spec.event_time].max() <= expected_end


def test_simulate_ecosystem_tables_pass_contract_strict(
    small_ecosystem: SimulatedEcosystem,
) -> None:
    """Check that the contract validation in strict mode accepts every row."""
    dataset = validate_tables(small_ecosystem.tables, small_ecosystem.config)

    for name, table in small_ecosystem.tables.items():
        counts = dataset.row_counts[name]
        assert counts["read"] == counts["accepted"] == len(table), name
        assert counts["quarantined"] == counts["duplicates"] == 0, name


def test_simulate_ecosystem_rules_hold_directly(
    small_ecosystem: SimulatedEcosystem,
) -> None:
    """Check ids, intervals, enums and response times without the validator."""
    tables = small_ecosystem.tables
    for name, spec in TABLES.items():
        table = tables[name]
        if spec.key:
            assert table[spec.key].is_unique, name
        for begin, end in spec.intervals:
            assert not (table[end] < table[begin]).any(), (name, begin, end)
        for column in spec.columns:
            if column.allowed is not None:
                assert set(table[column.name].dropna()) <= column.allowed, column.name
    known = set(tables["partners"]["partner_id"])
    for name in ("deals", "partner_reps", "interactions", "portal_views"):
        assert set(tables[name]["partner_id"]) <= known, name
    reps = set(tables["partner_reps"]["rep_id"])
    for name in ("deals", "interactions", "portal_views"):
        assert set(tables[name]["rep_id"].dropna()) <= reps, name


def test_simulate_ecosystem_events_use_reps_on_roster(
    small_ecosystem: SimulatedEcosystem,
) -> None:
    """Check that an event's rep belongs to its partner and is on the roster then."""
    reps = small_ecosystem.tables["partner_reps"].set_index("rep_id")
    for name, when in (
        ("deals", "registered_at"),
        ("interactions", "occurred_at"),
        ("portal_views", "viewed_at"),
    ):
        events = small_ecosystem.tables[name].dropna(subset=["rep_id"])
        joined = events.join(reps, on="rep_id", rsuffix="_of_rep")
        assert (joined["partner_id"] == joined["partner_id_of_rep"]).all(), name
        on_roster = (joined["joined_at"] <= joined[when]) & ~(
            joined["left_at"] <= joined[when]
        )
        assert on_roster.all(), name


def test_simulate_truth_silent_partners_register_no_deal_from_silent_from(
    small_ecosystem: SimulatedEcosystem,
) -> None:
    """Check that no partner registers a deal on or after its truth silent_from."""
    truth = small_ecosystem.truth.set_index("partner_id")
    deals = small_ecosystem.tables["deals"]
    silent_from = deals["partner_id"].map(truth["silent_from"])

    assert truth["silent_from"].notna().sum() > 10
    assert not (deals["registered_at"] >= silent_from).any()


def test_simulate_truth_terminated_partners_no_deal_after_termination(
    small_ecosystem: SimulatedEcosystem,
) -> None:
    """Check that terminations agree with partners and no deal follows them."""
    truth = small_ecosystem.truth.set_index("partner_id")
    partners = small_ecosystem.tables["partners"].set_index("partner_id")
    deals = small_ecosystem.tables["deals"]
    ended = deals["partner_id"].map(partners["terminated_at"])

    pdt.assert_series_equal(
        truth["terminated_at"], partners["terminated_at"], check_names=False
    )
    assert partners["terminated_at"].notna().sum() > 0
    assert not (deals["registered_at"] > ended).any()


def test_simulate_truth_episodes_consistent(
    small_ecosystem: SimulatedEcosystem,
) -> None:
    """Check truth columns, stages, and that silence follows a non-recovered start."""
    truth = small_ecosystem.truth
    episode = truth["decline_start"].notna()
    silent = truth["silent_from"].notna()

    assert list(truth.columns) == TRUTH_COLUMNS
    assert truth["partner_id"].is_unique
    assert len(truth) == len(small_ecosystem.tables["partners"])
    assert set(truth.loc[episode, "root_stage"]) == set(STAGES)
    assert truth.loc[~episode, ["root_stage", "recovered"]].isna().all().all()
    assert not (silent & ~episode).any()
    assert not (truth.loc[silent, "recovered"]).any()
    assert (truth.loc[silent, "silent_from"] > truth.loc[silent, "decline_start"]).all()
    assert truth.loc[episode, "recovered"].any()


def test_write_ecosystem_folder_loads_back(
    small_ecosystem: SimulatedEcosystem, small_dataset_dir: Path
) -> None:
    """Check that the written folder holds six Parquet tables, yaml and truth."""
    names = {p.name for p in small_dataset_dir.iterdir()}
    config = yaml.safe_load((small_dataset_dir / "dataset.yaml").read_text())
    truth = pd.read_csv(
        small_dataset_dir / "truth.csv", dtype=str, keep_default_na=False
    )

    assert names == {f"{t}.parquet" for t in TABLES} | {"dataset.yaml", "truth.csv"}
    assert config["timezone"] == "Asia/Tokyo"
    assert pd.Timestamp(config["extract_time"]) == small_ecosystem.config.extract_time
    assert list(truth.columns) == TRUTH_COLUMNS
    assert set(truth["recovered"]) <= {"true", "false", ""}
    for name in TABLES:
        back = pd.read_parquet(small_dataset_dir / f"{name}.parquet")
        pdt.assert_frame_equal(back, small_ecosystem.tables[name], check_dtype=False)


def test_load_dataset_simulated_folder_same_tables(
    small_ecosystem: SimulatedEcosystem, small_dataset_dir: Path
) -> None:
    """Check that the loader reads the written folder back unchanged."""
    dataset = load_dataset(small_dataset_dir)

    for name in TABLES:
        pdt.assert_frame_equal(
            dataset.table(name).reset_index(drop=True), small_ecosystem.tables[name]
        )


def test_simulated_dataset_holds_all_tables(
    small_ecosystem: SimulatedEcosystem,
) -> None:
    """Check that the Dataset view holds every table with the same config."""
    dataset = small_ecosystem.dataset()

    assert all(dataset.has(name) for name in TABLES)
    assert dataset.timezone == "Asia/Tokyo"
    assert dataset.extract_time == small_ecosystem.config.extract_time


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"partners": 0}, "need at least 1 partner"),
        ({"months": 0}, "need at least 1 month"),
        ({"start": "April"}, "is not a local date"),
        ({"start": "2022-04-01T00:00+09:00"}, "is not a local date; use YYYY-MM-DD"),
    ],
)
def test_simulate_ecosystem_bad_arguments_raise(
    kwargs: dict[str, object], message: str
) -> None:
    """Check that out-of-range arguments raise a ConfigError naming the argument."""
    with pytest.raises(ConfigError, match=message):
        simulate_ecosystem(**kwargs)  # type: ignore[arg-type]
