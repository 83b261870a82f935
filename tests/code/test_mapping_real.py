"""The shipped real-data mappings on the committed sample and on the full data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ghost_model.mapping import MappedTables, map_tables, read_mapping

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "sample" / "online-retail-ii"
EXAMPLES = ROOT / "examples" / "mappings"
SHARED = ROOT.parent / "shared" / "data"


def _map_sample() -> MappedTables:
    config, body, data_dir = read_mapping(SAMPLE)
    return map_tables(body, config, data_dir=data_dir)


def test_map_retail_sample_deals_are_purchase_invoices() -> None:
    """Check that the sample's deals are purchase invoices of known customers."""
    deals = _map_sample().tables["deals"]

    assert deals["deal_id"].is_unique
    assert not deals["deal_id"].str.startswith("C").any()
    assert deals["partner_id"].str.fullmatch(r"\d{5}").all()
    assert (deals["amount"] >= 0).all()


def test_map_retail_sample_overlap_days_counted_once() -> None:
    """Check that invoices of the nine days both files hold appear once."""
    deals = _map_sample().tables["deals"]
    overlap = deals[
        (deals["registered_at"] >= pd.Timestamp("2010-12-01"))
        & (deals["registered_at"] < pd.Timestamp("2010-12-10"))
    ]

    assert len(overlap) > 0
    assert overlap["deal_id"].is_unique


def test_map_retail_sample_partners_match_deal_partners() -> None:
    """Check that every partner has a region and deals name only known partners."""
    mapped = _map_sample()
    partners, deals = mapped.tables["partners"], mapped.tables["deals"]

    assert set(deals["partner_id"]) == set(partners["partner_id"])
    assert partners["region"].notna().all()
    assert "signed_at" not in partners.columns


@pytest.mark.realdata
@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_map_retail_full_counts_match_provenance() -> None:
    """Check that the full data map to the documented invoice and customer counts."""
    config, body, data_dir = read_mapping(EXAMPLES / "online-retail-ii.yaml")
    mapped = map_tables(body, config, data_dir=data_dir)

    assert len(mapped.tables["deals"]) == 36_975
    assert len(mapped.tables["partners"]) == 5_881
    assert mapped.row_counts["deals"]["read"] == 525_461 + 541_909


@pytest.mark.realdata
@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_map_crm_full_keeps_unplaceable_deals_for_quarantine() -> None:
    """Check that the CRM mapping keeps deals without account or date for validation."""
    config, body, data_dir = read_mapping(EXAMPLES / "crm-sales-opportunities.yaml")
    mapped = map_tables(body, config, data_dir=data_dir)
    deals = mapped.tables["deals"]

    assert len(deals) == 8_800
    assert deals["partner_id"].isna().sum() == 1_425
    assert set(deals["outcome"]) == {"won", "lost", "open"}
    assert mapped.tables["partner_reps"]["rep_id"].is_unique
