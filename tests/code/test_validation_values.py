"""Values that look readable but break the contract: huge numbers, odd JSON ids."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ghost_model.dataset import DatasetConfig
from ghost_model.errors import DataContractError
from ghost_model.loaders import load_dataset, validate_tables

UTC_CONFIG = DatasetConfig(
    timezone="UTC", extract_time=pd.Timestamp("2024-06-30T00:00:00Z").as_unit("us")
)
DEALS_HEADER = "deal_id,partner_id,registered_at,rep_id,closed_at,outcome,amount"


def json_deals(
    deal_ids: list[object], amounts: list[object]
) -> dict[str, pd.DataFrame]:
    """A deals frame typed as JSON records arrive: object columns of Python values."""
    return {
        "deals": pd.DataFrame(
            {
                "deal_id": pd.Series(deal_ids, dtype=object),
                "partner_id": ["P1"] * len(deal_ids),
                "registered_at": ["2024-01-01"] * len(deal_ids),
                "amount": pd.Series(amounts, dtype=object),
            }
        )
    }


def test_load_deals_amount_overflowing_float_raises(tmp_path: Path) -> None:
    """Check that a CSV number too large for a float is not a finite number."""
    (tmp_path / "dataset.yaml").write_text(
        "timezone: UTC\nextract_time: 2024-06-30T00:00:00Z\n", encoding="utf-8"
    )
    (tmp_path / "deals.csv").write_text(
        f"{DEALS_HEADER}\nD1,P1,2024-06-01,R1,,open,1e400\n", encoding="utf-8"
    )

    with pytest.raises(
        DataContractError,
        match=r"deals\.csv row 1 .*column 'amount', value '1e400': not a finite number",
    ):
        load_dataset(tmp_path)


def test_validate_deals_infinite_json_amount_raises() -> None:
    """Check that an infinite number in a JSON frame is a violation."""
    raw = json_deals(["D1", "D2"], [5, float("inf")])

    with pytest.raises(
        DataContractError, match=r"deals row 2, column 'amount', .*not a finite number"
    ):
        validate_tables(raw, UTC_CONFIG)


def test_validate_deals_fractional_json_id_among_text_raises() -> None:
    """Check that a JSON id 2.5 beside text ids is a violation, not the id '2.5'."""
    raw = json_deals(["D1", 2.5], [1, 2])

    with pytest.raises(
        DataContractError,
        match=r"deals row 2, column 'deal_id', value 2\.5: an id read as a number "
        r"must be a whole number",
    ):
        validate_tables(raw, UTC_CONFIG)


@pytest.mark.parametrize("deal_ids", [[True, "D2"], [True, False]])
def test_validate_deals_boolean_json_id_raises(deal_ids: list[object]) -> None:
    """Check that a JSON boolean given as an id is a violation."""
    raw = json_deals(deal_ids, [1, 2])

    with pytest.raises(
        DataContractError,
        match=r"deals row 1, column 'deal_id', value True: a boolean is not an id",
    ):
        validate_tables(raw, UTC_CONFIG)


@pytest.mark.parametrize(
    "deal_ids",
    [[1e20, 1e21], pd.Series([1e20, 1e21], dtype="float64"), ["D1", 1e20]],
    ids=["json", "float-column", "mixed"],
)
def test_validate_deals_huge_numeric_ids_raise(deal_ids: object) -> None:
    """Check that ids too large for a float to hold exactly are refused, not merged.

    1e20 and 1e21 once both became -9223372036854775808 and were then reported as
    duplicates of each other.
    """
    raw = json_deals(list(deal_ids), [1, 2])
    if isinstance(deal_ids, pd.Series):
        raw["deals"]["deal_id"] = deal_ids

    with pytest.raises(
        DataContractError,
        match=r"deals row 2, column 'deal_id', value 1e\+2[01]: an id read as a "
        r"number must be at most 2\*\*53",
    ):
        validate_tables(raw, UTC_CONFIG)


def test_validate_deals_ids_up_to_two_power_53_accepted() -> None:
    """Check that whole-number ids up to 2**53 are read exactly as text."""
    raw = json_deals([2.0**53, 12.0], [1, 2])

    deals = validate_tables(raw, UTC_CONFIG).table("deals")

    assert deals["deal_id"].tolist() == ["9007199254740992", "12"]


def test_validate_deals_mixed_json_ids_whole_numbers_accepted() -> None:
    """Check that whole JSON numbers beside text ids become text without '.0'."""
    raw = json_deals(["D1", 3.0, 7], [1, 2.5, None])

    deals = validate_tables(raw, UTC_CONFIG).table("deals")

    assert deals["deal_id"].tolist() == ["D1", "3", "7"]
    assert deals["amount"].tolist()[:2] == [1.0, 2.5]
    assert pd.isna(deals["amount"].iloc[2])


def test_quarantine_deals_folder_given_as_str_writes_rows(tmp_path: Path) -> None:
    """Check that a quarantine folder given as text is accepted and written."""
    (tmp_path / "dataset.yaml").write_text(
        "timezone: UTC\nextract_time: 2024-06-30T00:00:00Z\n", encoding="utf-8"
    )
    (tmp_path / "deals.csv").write_text(
        f"{DEALS_HEADER}\nD1,P1,2024-06-01,R1,,open,1\nD2,P1,x,,,,\n", encoding="utf-8"
    )
    out = tmp_path / "rejected"

    dataset = load_dataset(tmp_path, quarantine=True, quarantine_dir=str(out))

    assert dataset.table("deals")["deal_id"].tolist() == ["D1"]
    assert (out / "deals.csv").is_file()
    with pytest.raises(DataContractError, match=r"not an ISO 8601 timestamp"):
        load_dataset(tmp_path)


def test_validate_tables_quarantine_folder_given_as_str_writes_rows(
    tmp_path: Path,
) -> None:
    """Check that validate_tables accepts a quarantine folder given as text."""
    raw = json_deals(["D1", True], [1, 2])
    out = tmp_path / "rejected"

    validate_tables(raw, UTC_CONFIG, quarantine=True, quarantine_dir=str(out))

    assert "a boolean is not an id" in (out / "deals.csv").read_text(encoding="utf-8")


def test_load_deals_id_with_line_break_from_misplaced_quote_raises(
    tmp_path: Path,
) -> None:
    """Check that a quote opened and closed a line later, which folds the next row
    into an id, is a violation naming the line break and its likely cause."""
    (tmp_path / "dataset.yaml").write_text(
        "timezone: UTC\nextract_time: 2024-06-30T00:00:00Z\n", encoding="utf-8"
    )
    (tmp_path / "deals.csv").write_text(
        "deal_id,partner_id,registered_at,product\n"
        '1,P1,2024-01-01,x\n2,"P2,2024-01-02,y\n3,"P3",2024-01-03,z\n',
        encoding="utf-8",
    )

    with pytest.raises(
        DataContractError,
        match=r"deals\.csv row 2 .*column 'partner_id', value "
        r"'P2,2024-01-02,y\\n3,P3\"': an id never holds a line break \(a quote "
        r"opened and closed on a later line\?\)",
    ):
        load_dataset(tmp_path)

    deals = load_dataset(tmp_path, quarantine=True).table("deals")
    assert deals["deal_id"].tolist() == ["1"]


@pytest.mark.parametrize("value", ["a\nb", "x\ry"])
@pytest.mark.parametrize("column", ["outcome", "product", "rep_id"])
def test_validate_deals_line_break_in_id_or_category_raises(
    column: str, value: str
) -> None:
    """Check that a line break inside an id or a category is a violation."""
    raw = json_deals(["D1", "D2"], [1, 2])
    raw["deals"][column] = ["won", value]
    kind = "an id" if column == "rep_id" else "a category"

    with pytest.raises(
        DataContractError,
        match=rf"deals row 2, column '{column}', .*: {kind} never holds a line break",
    ):
        validate_tables(raw, UTC_CONFIG)
