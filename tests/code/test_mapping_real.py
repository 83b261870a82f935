"""The shipped real-data mappings on the committed sample and on the full data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ghost_model.contract import TIMESTAMP_DTYPE
from ghost_model.errors import DataContractError
from ghost_model.loaders import load_dataset
from ghost_model.mapping import (
    MappedTables,
    load_mapped_dataset,
    map_tables,
    read_mapping,
)

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


def test_load_dataset_mapped_sample_validates_through_the_mapping() -> None:
    """Check that load_dataset reads a folder whose dataset.yaml names a mapping."""
    dataset = load_dataset(SAMPLE)

    assert dataset.tables.keys() == {"deals", "partners"}
    assert dataset.row_counts["deals"]["quarantined"] == 0
    assert str(dataset.table("deals")["registered_at"].dtype) == TIMESTAMP_DTYPE
    assert dataset.timezone == "Europe/London"


def test_load_mapped_dataset_crm_quarantines_unplaceable_deals(tmp_path: Path) -> None:
    """Check that CRM deals without partner or date are quarantined with a reason."""
    export = tmp_path / "export"
    export.mkdir()
    pd.DataFrame(
        {
            "opportunity_id": ["A1", "A2", "A3"],
            "sales_agent": ["Ann Lee", "Ann Lee", "Bo Kim"],
            "product": ["GTX"] * 3,
            "account": ["Acme", None, "Acme"],
            "deal_stage": ["Won", "Engaging", "Prospecting"],
            "engage_date": ["2017-01-02", "2017-02-03", None],
            "close_date": ["2017-02-01", None, None],
            "close_value": ["10", None, None],
        }
    ).to_csv(export / "sales_pipeline.csv", index=False)
    pd.DataFrame({"account": ["Acme"], "office_location": ["Kenya"]}).to_csv(
        export / "accounts.csv", index=False
    )
    dataset = load_mapped_dataset(
        EXAMPLES / "crm-sales-opportunities.yaml",
        quarantine=True,
        quarantine_dir=tmp_path / "quarantine",
        data_dir=export,
    )

    assert dataset.row_counts["deals"]["quarantined"] == 2
    assert dataset.table("deals")["rep_id"].tolist() == ["Ann Lee @ Acme"]
    assert (tmp_path / "quarantine" / "deals.csv").is_file()


def test_load_mapped_dataset_crm_strict_mode_names_the_rule(tmp_path: Path) -> None:
    """Check that without quarantine the blank account stops validation by name."""
    export = tmp_path / "export"
    export.mkdir()
    pd.DataFrame(
        {
            "opportunity_id": ["A1"],
            "sales_agent": ["Ann Lee"],
            "product": ["GTX"],
            "account": [None],
            "deal_stage": ["Engaging"],
            "engage_date": ["2017-02-03"],
            "close_date": [None],
            "close_value": [None],
        }
    ).to_csv(export / "sales_pipeline.csv", index=False)
    pd.DataFrame({"account": ["Acme"], "office_location": ["Kenya"]}).to_csv(
        export / "accounts.csv", index=False
    )

    with pytest.raises(DataContractError, match=r"partner_id"):
        load_mapped_dataset(EXAMPLES / "crm-sales-opportunities.yaml", data_dir=export)


def test_load_mapped_dataset_quarantine_beside_dataset_yaml(tmp_path: Path) -> None:
    """Check that a mapped folder quarantines into a folder beside dataset.yaml."""
    folder = tmp_path / "crm"
    folder.mkdir()
    pd.DataFrame(
        {
            "opportunity_id": ["A1", "A2"],
            "sales_agent": ["Ann Lee", "Bo Kim"],
            "product": ["GTX", "GTX"],
            "account": ["Acme", None],
            "deal_stage": ["Won", "Engaging"],
            "engage_date": ["2017-01-02", "2017-02-03"],
            "close_date": ["2017-02-01", None],
            "close_value": ["10", None],
        }
    ).to_csv(folder / "sales_pipeline.csv", index=False)
    pd.DataFrame({"account": ["Acme"], "office_location": ["Kenya"]}).to_csv(
        folder / "accounts.csv", index=False
    )
    mapping = EXAMPLES / "crm-sales-opportunities.yaml"
    (folder / "dataset.yaml").write_text(
        "timezone: UTC\nextract_time: 2018-01-01\n"
        f"mapping: {{file: {mapping}, data_dir: .}}\n",
        encoding="utf-8",
    )
    dataset = load_dataset(folder, quarantine=True)

    assert dataset.row_counts["deals"]["quarantined"] == 1
    assert (folder / "quarantine" / "deals.csv").is_file()
