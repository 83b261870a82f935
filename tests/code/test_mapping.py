"""Column mapping: building contract tables from export files described in YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from ghost_model.dataset import DatasetConfig
from ghost_model.errors import MappingError
from ghost_model.mapping import MappedTables, map_tables, read_mapping

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "mappings"


def _config(timezone: str = "Europe/London") -> DatasetConfig:
    return DatasetConfig.from_mapping(
        {"timezone": timezone, "extract_time": "2012-01-01T00:00:00"}, source="test"
    )


def _map(
    tmp_path: Path, tables: dict[str, Any], timezone: str = "Europe/London"
) -> MappedTables:
    return map_tables(
        {"tables": tables}, _config(timezone), data_dir=tmp_path, mapping_file="m.yaml"
    )


@pytest.fixture
def retail_files(tmp_path: Path) -> Path:
    """Two invoice files in the two namings of the retail export, overlapping a day."""
    first = pd.DataFrame(
        {
            "Invoice": ["100", "100", "C101", "102", "103", "104"],
            "Quantity": [2, 3, -2, 1, 5, 1],
            "InvoiceDate": [
                "2010-12-01 09:00:00",
                "2010-12-01 09:01:00",
                "2010-12-02 10:00:00",
                "2010-12-03 11:00:00",
                "2010-12-09 12:00:00",
                "2010-12-09 13:00:00",
            ],
            "Price": [1.5, 2.0, 1.5, 10.0, 1.0, 3.0],
            "Customer ID": [12345.0, 12345.0, 12345.0, 23456.0, np.nan, 23456.0],
            "Country": ["France", "France", "France", "Spain", "UK", "Portugal"],
        }
    )
    second = pd.DataFrame(
        {
            "InvoiceNo": ["104", "105", "C106"],
            "Quantity": [1, 4, -1],
            "InvoiceDate": [
                "2010-12-09 13:00:00",
                "2011-01-05 08:00:00",
                "2011-01-06 08:00:00",
            ],
            "UnitPrice": [3.0, 2.5, 2.5],
            "CustomerID": [23456.0, 12345.0, 12345.0],
            "Country": ["Portugal", "France", "France"],
        }
    )
    first.to_parquet(tmp_path / "year1.parquet", index=False)
    second.to_csv(tmp_path / "year2.csv", index=False)
    return tmp_path


RETAIL_FILES = [
    {
        "path": "year1.parquet",
        "rename": {"Invoice": "invoice", "Customer ID": "customer", "Price": "price"},
    },
    {
        "path": "year2.csv",
        "rename": {
            "InvoiceNo": "invoice",
            "CustomerID": "customer",
            "UnitPrice": "price",
        },
        "filter": [
            {
                "column": "InvoiceDate",
                "op": ">=",
                "value": pd.Timestamp("2010-12-10").date(),
            }
        ],
    },
]
RETAIL_FILTER = [
    {"column": "customer", "op": "not null"},
    {"column": "invoice", "op": "not startswith", "value": "C"},
]
RETAIL_DEALS = {
    "files": RETAIL_FILES,
    "filter": RETAIL_FILTER,
    "columns": {
        "deal_id": "invoice",
        "partner_id": "customer",
        "registered_at": {"column": "InvoiceDate", "time_format": "%Y-%m-%d %H:%M:%S"},
        "amount": {"product": ["Quantity", "price"]},
    },
    "aggregate": {
        "by": "deal_id",
        "columns": {"partner_id": "unique", "registered_at": "min", "amount": "sum"},
    },
}


def test_map_deals_invoices_aggregates_lines_into_one_deal(retail_files: Path) -> None:
    """Check that invoice lines fold into one deal: first time, summed amount."""
    deals = _map(retail_files, {"deals": RETAIL_DEALS}).tables["deals"]

    first = deals.set_index("deal_id").loc["100"]
    assert first["amount"] == pytest.approx(2 * 1.5 + 3 * 2.0)
    assert first["registered_at"] == pd.Timestamp("2010-12-01 09:00:00")
    assert first["partner_id"] == "12345"


def test_map_deals_two_files_drops_credit_notes_guests_and_overlap(
    retail_files: Path,
) -> None:
    """Check that credit notes, guest rows and the second file's overlap are dropped."""
    mapped = _map(retail_files, {"deals": RETAIL_DEALS})

    assert sorted(mapped.tables["deals"]["deal_id"]) == ["100", "102", "104", "105"]
    assert mapped.row_counts["deals"] == {"read": 9, "kept": 5, "mapped": 4}
    assert "year1.parquet + year2.csv" in mapped.sources["deals"]


def test_map_deals_float_ids_become_integer_text(retail_files: Path) -> None:
    """Check that a float customer id 12345.0 becomes the id "12345"."""
    deals = _map(retail_files, {"deals": RETAIL_DEALS}).tables["deals"]

    assert set(deals["partner_id"]) == {"12345", "23456"}
    assert deals["partner_id"].dtype == "str"


def test_map_partners_first_region_by_helper_order(retail_files: Path) -> None:
    """Check that a partner's region is the country of its first invoice."""
    partners = {
        "files": RETAIL_FILES,
        "filter": RETAIL_FILTER,
        "columns": {
            "partner_id": "customer",
            "region": "Country",
            "_first": {"column": "InvoiceDate", "as": "timestamp"},
        },
        "aggregate": {
            "by": "partner_id",
            "order_by": "_first",
            "columns": {"region": "first"},
        },
    }
    table = _map(retail_files, {"partners": partners}).tables["partners"]

    assert list(table.columns) == ["partner_id", "region"]
    assert table.set_index("partner_id")["region"].to_dict() == {
        "12345": "France",
        "23456": "Spain",
    }


@pytest.fixture
def crm_file(tmp_path: Path) -> Path:
    """A small CRM pipeline export with stages, agents and a blank account."""
    pd.DataFrame(
        {
            "opportunity_id": ["A1", "A2", "A3", "A4"],
            "sales_agent": ["Ann Lee", "Bo Kim", "Ann Lee", "Bo Kim"],
            "account": ["Acme", "Acme", None, "Initech"],
            "deal_stage": ["Won", "Lost", "Engaging", "Prospecting"],
            "engage_date": ["2017-01-02", "2017-02-03", "2017-03-04", None],
            "close_date": ["2017-02-01", "2017-03-01", None, None],
            "close_value": ["1054", "0", None, None],
        }
    ).to_csv(tmp_path / "pipeline.csv", index=False)
    return tmp_path


STAGE_MAP = {"Won": "won", "Lost": "lost", "Engaging": "open", "Prospecting": "open"}
CRM_DEALS = {
    "files": ["pipeline.csv"],
    "columns": {
        "deal_id": "opportunity_id",
        "partner_id": "account",
        "rep_id": {"template": "{sales_agent} @ {account}"},
        "registered_at": {"column": "engage_date", "time_format": "%Y-%m-%d"},
        "closed_at": {"column": "close_date", "time_format": "%Y-%m-%d"},
        "outcome": {"column": "deal_stage", "map": STAGE_MAP},
        "stage": "deal_stage",
        "amount": "close_value",
        "product": {"value": "GTX"},
    },
}


def test_map_deals_stage_names_become_outcomes(crm_file: Path) -> None:
    """Check that CRM stage names map onto won / lost / open, keeping the stage."""
    deals = _map(crm_file, {"deals": CRM_DEALS}).tables["deals"]

    assert deals["outcome"].tolist() == ["won", "lost", "open", "open"]
    assert deals["stage"].tolist() == ["Won", "Lost", "Engaging", "Prospecting"]


def test_map_deals_template_and_constant_columns(crm_file: Path) -> None:
    """Check that a template joins columns (blank if a part is) and constants fill."""
    deals = _map(crm_file, {"deals": CRM_DEALS}).tables["deals"]

    assert deals["rep_id"].iloc[0] == "Ann Lee @ Acme"
    assert pd.isna(deals["rep_id"].iloc[2])
    assert set(deals["product"]) == {"GTX"}
    assert deals["amount"].dtype == "float64"


def test_map_deals_rows_without_partner_are_kept_for_validation(crm_file: Path) -> None:
    """Check that rows missing a required value are passed on, not dropped silently."""
    deals = _map(crm_file, {"deals": CRM_DEALS}).tables["deals"]

    assert len(deals) == 4
    assert deals["partner_id"].isna().sum() == 1
    assert deals["registered_at"].isna().sum() == 1


def test_map_deals_unmapped_stage_raises_naming_file_row_and_key(
    crm_file: Path,
) -> None:
    """Check that a stage absent from the value map names file, row, column and key."""
    spec = {**CRM_DEALS, "columns": {**CRM_DEALS["columns"]}}
    spec["columns"]["outcome"] = {"column": "deal_stage", "map": {"Won": "won"}}

    with pytest.raises(
        MappingError,
        match=r"pipeline\.csv, data row 2, column 'deal_stage': value 'Lost' has no "
        r"entry in tables\.deals\.columns\.outcome\.map",
    ):
        _map(crm_file, {"deals": spec})


def test_map_deals_unmapped_null_blanks_unknown_values(crm_file: Path) -> None:
    """Check that 'unmapped: null' blanks values the map does not know."""
    spec = {**CRM_DEALS, "columns": {**CRM_DEALS["columns"]}}
    spec["columns"]["outcome"] = {
        "column": "deal_stage",
        "map": {"Won": "won"},
        "unmapped": "null",
    }
    deals = _map(crm_file, {"deals": spec}).tables["deals"]

    assert deals["outcome"].isna().tolist() == [False, True, True, True]


def test_map_deals_when_blanks_expected_close_of_open_deals(crm_file: Path) -> None:
    """Check that 'when' keeps a value only on rows meeting its conditions."""
    spec = {**CRM_DEALS, "columns": {**CRM_DEALS["columns"]}}
    spec["columns"]["closed_at"] = {
        "column": "engage_date",
        "when": [{"column": "deal_stage", "op": "in", "value": ["Won"]}],
    }
    deals = _map(crm_file, {"deals": spec}).tables["deals"]

    assert deals["closed_at"].notna().tolist() == [True, False, False, False]


def test_map_deals_missing_column_raises_naming_file_and_column(crm_file: Path) -> None:
    """Check that a column absent from the file names the file and the column."""
    spec = {**CRM_DEALS, "columns": {**CRM_DEALS["columns"], "deal_id": "Opp ID"}}

    with pytest.raises(
        MappingError, match=r"pipeline\.csv: column\(s\) \['Opp ID'\] not found"
    ):
        _map(crm_file, {"deals": spec})


def test_map_deals_bad_rename_raises_naming_file_and_key(crm_file: Path) -> None:
    """Check that renaming a column the file lacks names the file and the key."""
    spec = {
        **CRM_DEALS,
        "files": [{"path": "pipeline.csv", "rename": {"Account": "account"}}],
    }

    with pytest.raises(
        MappingError,
        match=r"pipeline\.csv: column\(s\) \['Account'\] not found .*"
        r"tables\.deals\.files\[0\]\.rename",
    ):
        _map(crm_file, {"deals": spec})


def test_map_deals_bad_time_format_raises_naming_value(crm_file: Path) -> None:
    """Check that a timestamp not matching time_format names file, row and value."""
    spec = {**CRM_DEALS, "columns": {**CRM_DEALS["columns"]}}
    spec["columns"]["registered_at"] = {
        "column": "engage_date",
        "time_format": "%d/%m/%Y",
    }

    with pytest.raises(
        MappingError,
        match=r"pipeline\.csv, data row 1: value '2017-01-02' for "
        r"tables\.deals\.columns\.registered_at .* is not a timestamp",
    ):
        _map(crm_file, {"deals": spec})


def test_map_deals_text_in_number_column_raises(crm_file: Path) -> None:
    """Check that a non-numeric amount is a mapping error naming the column key."""
    spec = {**CRM_DEALS, "columns": {**CRM_DEALS["columns"], "amount": "deal_stage"}}

    with pytest.raises(
        MappingError, match=r"value 'Won' for tables\.deals\.columns\.amount"
    ):
        _map(crm_file, {"deals": spec})


def test_map_missing_file_raises_naming_path(tmp_path: Path) -> None:
    """Check that a file that is not there is named with the mapping key."""
    with pytest.raises(MappingError, match=r"nowhere\.csv: file not found"):
        _map(tmp_path, {"deals": {**CRM_DEALS, "files": ["nowhere.csv"]}})


def test_map_unknown_table_raises(crm_file: Path) -> None:
    """Check that a table outside the contract is refused with the known names."""
    with pytest.raises(MappingError, match=r"'opportunities' is not a contract table"):
        _map(crm_file, {"opportunities": CRM_DEALS})


def test_map_unknown_contract_column_raises(crm_file: Path) -> None:
    """Check that a column name outside the contract table is refused."""
    spec = {**CRM_DEALS, "columns": {**CRM_DEALS["columns"], "owner": "sales_agent"}}

    with pytest.raises(
        MappingError, match=r"tables\.deals\.columns\.owner: 'owner' is not a column"
    ):
        _map(crm_file, {"deals": spec})


def test_map_required_column_unmapped_raises(crm_file: Path) -> None:
    """Check that leaving out a required contract column is a mapping error."""
    columns = {k: v for k, v in CRM_DEALS["columns"].items() if k != "registered_at"}

    with pytest.raises(
        MappingError, match=r"required contract column\(s\) \['registered_at'\]"
    ):
        _map(crm_file, {"deals": {**CRM_DEALS, "columns": columns}})


def test_map_unknown_filter_operator_raises(crm_file: Path) -> None:
    """Check that a filter operator outside the list is refused."""
    spec = {**CRM_DEALS, "filter": [{"column": "account", "op": "~", "value": "A"}]}

    with pytest.raises(MappingError, match=r"tables\.deals\.filter\[0\]\.op: '~'"):
        _map(crm_file, {"deals": spec})


def test_map_unique_reducer_conflict_raises(crm_file: Path) -> None:
    """Check that 'unique' refuses a group whose rows disagree."""
    spec = {
        **CRM_DEALS,
        "columns": {
            "deal_id": "deal_stage",
            "partner_id": "account",
            "registered_at": "engage_date",
        },
        "aggregate": {
            "by": "partner_id",
            "columns": {"deal_id": "unique", "registered_at": "min"},
        },
    }

    with pytest.raises(MappingError, match=r"group 'Acme' has 2 different values"):
        _map(crm_file, {"deals": spec})


def test_map_aggregate_without_reducer_raises(crm_file: Path) -> None:
    """Check that every non-key column needs a reducer when rows are aggregated."""
    spec = {**CRM_DEALS, "aggregate": {"by": "deal_id", "columns": {}}}

    with pytest.raises(MappingError, match=r"give a reducer for 'partner_id'"):
        _map(crm_file, {"deals": spec})


def test_map_aggregate_keeps_rows_without_key(crm_file: Path) -> None:
    """Check that rows with no aggregation key are passed on for validation."""
    spec = {
        "files": ["pipeline.csv"],
        "columns": {
            "rep_id": {"template": "{sales_agent} @ {account}"},
            "partner_id": "account",
            "joined_at": "engage_date",
        },
        "aggregate": {
            "by": "rep_id",
            "columns": {"partner_id": "unique", "joined_at": "min"},
        },
    }
    reps = _map(crm_file, {"partner_reps": spec}).tables["partner_reps"]

    assert reps["rep_id"].isna().sum() == 1
    assert len(reps) == 4


def _write_yaml(path: Path, content: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def test_read_mapping_dataset_yaml_naming_a_mapping_file(crm_file: Path) -> None:
    """Check that dataset.yaml may name a mapping file; the data lie beside it."""
    elsewhere = crm_file / "mappings"
    elsewhere.mkdir()
    _write_yaml(elsewhere / "crm.yaml", {"tables": {"deals": CRM_DEALS}})
    _write_yaml(
        crm_file / "dataset.yaml",
        {
            "timezone": "Asia/Tokyo",
            "extract_time": "2018-01-01",
            "mapping": {"file": "mappings/crm.yaml"},
        },
    )
    config, body, data_dir = read_mapping(crm_file)

    assert config.timezone == "Asia/Tokyo"
    assert data_dir == crm_file.resolve()
    assert len(map_tables(body, config, data_dir=data_dir).tables["deals"]) == 4


def test_read_mapping_standalone_file_resolves_data_dir(crm_file: Path) -> None:
    """Check that a mapping file's data_dir is relative to the mapping file."""
    folder = crm_file / "maps"
    folder.mkdir()
    mapping = _write_yaml(
        folder / "crm.yaml",
        {
            "name": "crm",
            "timezone": "UTC",
            "extract_time": "2018-01-01",
            "data_dir": "..",
            "tables": {"deals": CRM_DEALS},
        },
    )
    config, _, data_dir = read_mapping(mapping)

    assert config.name == "crm"
    assert config.extract_time == pd.Timestamp("2018-01-01", tz="UTC")
    assert data_dir == crm_file.resolve()


def test_read_mapping_without_timezone_raises(tmp_path: Path) -> None:
    """Check that a mapping file without a time zone is a mapping error."""
    mapping = _write_yaml(
        tmp_path / "m.yaml", {"extract_time": "2018-01-01", "tables": {}}
    )

    with pytest.raises(MappingError, match=r"key 'timezone' is missing"):
        read_mapping(mapping)


def test_read_mapping_unknown_top_key_raises(tmp_path: Path) -> None:
    """Check that a misspelt top-level key is refused with the allowed keys."""
    mapping = _write_yaml(
        tmp_path / "m.yaml",
        {"timezone": "UTC", "extract_time": "2018-01-01", "table": {}},
    )

    with pytest.raises(MappingError, match=r"unknown key\(s\) \['table'\]"):
        read_mapping(mapping)


@pytest.mark.parametrize(
    "example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem
)
def test_read_mapping_examples_are_valid(example: Path) -> None:
    """Check that every shipped example mapping reads and names contract tables."""
    config, body, _ = read_mapping(example)

    assert config.name == example.stem
    assert "deals" in body["tables"]


def test_map_crm_opportunity_example_on_small_export(tmp_path: Path) -> None:
    """Check that the typical CRM example maps an export in its column names."""
    pd.DataFrame(
        {
            "Opportunity ID": ["006A", "006B", "006C"],
            "Opportunity Record Type": ["Partner Deal Registration"] * 2 + ["Direct"],
            "Account ID": ["001X", "001X", "001Y"],
            "Opportunity Owner": ["Aiko Sato", "Ken Ito", "Ken Ito"],
            "Created Date": ["04/01/2024", "05/15/2024", "06/01/2024"],
            "Close Date": ["06/30/2024", "12/31/2024", "07/01/2024"],
            "Stage": ["Closed Won", "Negotiation/Review", "Closed Lost"],
            "Amount": ["1200000", "", "5"],
            "Product Name": ["Suite", "Suite", "Suite"],
        }
    ).to_csv(tmp_path / "opportunities.csv", index=False, encoding="utf-8-sig")
    pd.DataFrame(
        {
            "Account ID": ["001X"],
            "Account Name": ["Example KK"],
            "Partner Tier": ["Gold"],
            "Billing Country": ["Japan"],
            "Partner Since": ["01/15/2019"],
        }
    ).to_csv(tmp_path / "accounts.csv", index=False, encoding="utf-8-sig")
    config, body, _ = read_mapping(EXAMPLES / "crm-opportunity-export.yaml")
    mapped = map_tables(body, config, data_dir=tmp_path)

    deals = mapped.tables["deals"]
    assert deals["deal_id"].tolist() == ["006A", "006B"]
    assert deals["outcome"].tolist() == ["won", "open"]
    assert deals["closed_at"].notna().tolist() == [True, False]
    assert mapped.tables["partners"]["tier"].tolist() == ["Gold"]
