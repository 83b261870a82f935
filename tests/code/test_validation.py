"""Each data-contract rule with a bad input and the exact error it gets."""

from __future__ import annotations

import logging
import textwrap
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


def write_dataset(folder: Path, tables: dict[str, str], timezone: str = "UTC") -> Path:
    """A dataset folder with ``dataset.yaml`` and one CSV per table."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.yaml").write_text(
        f"timezone: {timezone}\nextract_time: 2024-06-30T00:00:00Z\n", encoding="utf-8"
    )
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(
            textwrap.dedent(text).lstrip(), encoding="utf-8"
        )
    return folder


def deals_csv(*rows: str) -> str:
    return "\n".join([DEALS_HEADER, *rows]) + "\n"


GOOD = "D1,P1,2024-01-05T10:00:00Z,R1,2024-02-01,won,100"


def test_load_deals_valid_rows_canonical_dtypes(tmp_path: Path) -> None:
    """Check that valid rows load with every contract column in canonical dtypes."""
    dataset = load_dataset(write_dataset(tmp_path, {"deals": deals_csv(GOOD)}))

    deals = dataset.table("deals")
    assert list(deals.columns) == [
        "deal_id",
        "partner_id",
        "registered_at",
        "rep_id",
        "closed_at",
        "outcome",
        "stage",
        "amount",
        "product",
    ]
    assert str(deals["deal_id"].dtype) == "str"
    assert str(deals["registered_at"].dtype) == "datetime64[us, UTC]"
    assert str(deals["closed_at"].dtype) == "datetime64[us, UTC]"
    assert str(deals["amount"].dtype) == "float64"
    assert str(deals["stage"].dtype) == "str"
    assert deals["stage"].isna().all()
    assert dataset.row_counts["deals"] == {
        "read": 1,
        "accepted": 1,
        "quarantined": 0,
        "duplicates": 0,
    }


def test_validate_deals_missing_required_column_raises(tmp_path: Path) -> None:
    """Check that a missing required column names the file, the column and the fix."""
    folder = write_dataset(tmp_path, {"deals": "deal_id,partner_id\nD1,P1\n"})

    with pytest.raises(
        DataContractError,
        match=r"deals\.csv: required column\(s\) \['registered_at'\] missing.*"
        r"column mapping",
    ):
        load_dataset(folder)


def test_validate_deals_missing_required_column_raises_in_quarantine(
    tmp_path: Path,
) -> None:
    """Check that a missing required column fails in quarantine mode too."""
    folder = write_dataset(
        tmp_path, {"deals": "deal_id,registered_at\nD1,2024-01-01\n"}
    )

    with pytest.raises(DataContractError, match=r"\['partner_id'\] missing"):
        load_dataset(folder, quarantine=True)


def test_validate_deals_missing_required_value_raises(tmp_path: Path) -> None:
    """Check that an empty required cell names file, row, line, column and rule."""
    folder = write_dataset(
        tmp_path, {"deals": deals_csv(GOOD, "D2,,2024-01-06,R1,,open,")}
    )

    with pytest.raises(
        DataContractError,
        match=r"deals\.csv row 2 \(line 3\), column 'partner_id', value None: "
        r"a required value is missing",
    ):
        load_dataset(folder)


def test_validate_deals_unparseable_timestamp_raises(tmp_path: Path) -> None:
    """Check that an unreadable timestamp is a violation naming the raw value."""
    folder = write_dataset(tmp_path, {"deals": deals_csv("D1,P1,2024-02-30,R1,,open,")})

    with pytest.raises(
        DataContractError,
        match=r"deals\.csv row 1 \(line 2\), column 'registered_at', "
        r"value '2024-02-30': not an ISO 8601 timestamp",
    ):
        load_dataset(folder)


@pytest.mark.parametrize("word", ["now", "today", " Today "])
def test_validate_deals_clock_word_as_timestamp_raises(
    tmp_path: Path, word: str
) -> None:
    """Check that words pandas reads as the current time are not timestamps."""
    folder = write_dataset(tmp_path, {"deals": deals_csv(f"D1,P1,{word},R1,,open,")})

    with pytest.raises(
        DataContractError,
        match=r"deals\.csv row 1 \(line 2\), column 'registered_at', "
        r"value .*: not an ISO 8601 timestamp",
    ):
        load_dataset(folder)


def test_validate_deals_unknown_outcome_raises(tmp_path: Path) -> None:
    """Check that an outcome outside won/lost/open is a violation."""
    folder = write_dataset(
        tmp_path, {"deals": deals_csv(GOOD, "D2,P1,2024-01-06,R1,,maybe,")}
    )

    with pytest.raises(
        DataContractError,
        match=r"row 2 \(line 3\), column 'outcome', value 'maybe': "
        r"not one of 'lost', 'open', 'won'",
    ):
        load_dataset(folder)


def test_validate_deals_outcome_case_and_spaces_normalised(tmp_path: Path) -> None:
    """Check that ' Won ' is read as 'won' (case and outer spaces do not matter)."""
    dataset = load_dataset(
        write_dataset(tmp_path, {"deals": deals_csv("D1,P1,2024-01-05, R1 ,, Won ,")})
    )

    assert dataset.table("deals")["outcome"].tolist() == ["won"]
    assert dataset.table("deals")["rep_id"].tolist() == ["R1"]


def test_validate_interactions_unknown_direction_and_kind_raise(tmp_path: Path) -> None:
    """Check that direction and kind outside their sets are both named."""
    folder = write_dataset(
        tmp_path,
        {
            "deals": deals_csv(GOOD),
            "interactions": "interaction_id,partner_id,occurred_at,direction,kind\n"
            "I1,P1,2024-01-05,sideways,chat\n",
        },
    )

    with pytest.raises(DataContractError, match=r"2 violation\(s\)") as caught:
        load_dataset(folder)

    message = str(caught.value)
    assert (
        "interactions.csv row 1 (line 2), column 'direction', value 'sideways': "
        "not one of 'inbound', 'outbound'" in message
    )
    assert (
        "column 'kind', value 'chat': not one of 'consultation', 'other', "
        "'question', 'report'" in message
    )


def test_validate_deals_two_rows_one_id_raises_naming_both(tmp_path: Path) -> None:
    """Check that two different rows with one id are a violation naming both rows."""
    folder = write_dataset(
        tmp_path,
        {
            "deals": deals_csv(
                GOOD, "D1,P2,2024-01-06,R1,,open,", "D3,P1,2024-01-07,,,,"
            )
        },
    )

    with pytest.raises(DataContractError, match=r"2 violation\(s\)") as caught:
        load_dataset(folder)

    message = str(caught.value)
    assert (
        "deals.csv row 1 (line 2), column 'deal_id', value 'D1': another, different "
        "row has the same deal_id (also on row 2)" in message
    )
    assert "deals.csv row 2 (line 3), column 'deal_id', value 'D1'" in message


def test_validate_deals_exact_duplicate_kept_once(tmp_path: Path) -> None:
    """Check that an exact duplicate row is collapsed and counted, not an error."""
    dataset = load_dataset(write_dataset(tmp_path, {"deals": deals_csv(GOOD, GOOD)}))

    assert len(dataset.table("deals")) == 1
    assert dataset.row_counts["deals"] == {
        "read": 2,
        "accepted": 1,
        "quarantined": 0,
        "duplicates": 1,
    }


def test_validate_deals_same_instant_two_spellings_is_duplicate(tmp_path: Path) -> None:
    """Check that rows equal once converted (offset vs UTC, 7.0 vs 7) are duplicates."""
    rows = ("7,P1,2024-01-05T19:00:00+09:00,,,,7", "7,P1,2024-01-05T10:00:00Z,,,,7.0")
    dataset = load_dataset(write_dataset(tmp_path, {"deals": deals_csv(*rows)}))

    assert dataset.row_counts["deals"]["duplicates"] == 1
    assert dataset.table("deals")["amount"].tolist() == [7.0]


@pytest.mark.parametrize(
    "rows",
    [
        (
            "D1,P1,2024-01-05,,,,100",
            "D1,P1,2024-01-05,,,,100.0",
            "D2,P1,2024-01-06,,,,x",
        ),
        (
            "D1,P1,2024-01-05,,2024-01-05T19:00:00+09:00,,",
            "D1,P1,2024-01-05,,2024-01-05T10:00:00Z,,",
            "D2,P1,2024-01-06,,not a day,,",
        ),
    ],
    ids=["amount", "closed_at"],
)
def test_quarantine_deals_duplicate_beside_unreadable_row_kept_once(
    tmp_path: Path, rows: tuple[str, ...]
) -> None:
    """Check that rows equal once converted stay duplicates when an unrelated row of
    the table has an unreadable value in the column they spell differently."""
    folder = write_dataset(tmp_path, {"deals": deals_csv(*rows)})

    with pytest.raises(DataContractError, match=r"1 violation\(s\)") as caught:
        load_dataset(folder)
    assert "deals.csv row 3 (line 4)" in str(caught.value)

    dataset = load_dataset(folder, quarantine=True)
    assert dataset.table("deals")["deal_id"].tolist() == ["D1"]
    assert dataset.row_counts["deals"] == {
        "read": 3,
        "accepted": 1,
        "quarantined": 1,
        "duplicates": 1,
    }


def test_validate_deals_unreadable_value_never_duplicate_of_missing(
    tmp_path: Path,
) -> None:
    """Check that an unreadable value is not taken for a converted one: an amount
    'nan' (not a number) does not collapse into the same row with no amount."""
    rows = ("D1,P1,2024-01-05,,,,", "D1,P1,2024-01-05,,,,nan")
    folder = write_dataset(tmp_path, {"deals": deals_csv(*rows)})

    with pytest.raises(DataContractError, match=r"3 violation\(s\)") as caught:
        load_dataset(folder)

    message = str(caught.value)
    assert "column 'amount', value 'nan': not a number" in message
    assert "value 'D1': another, different row has the same deal_id" in message


def test_validate_deals_closed_before_registered_raises(tmp_path: Path) -> None:
    """Check that an interval ending before it starts names both values."""
    folder = write_dataset(
        tmp_path, {"deals": deals_csv("D1,P1,2024-02-01,R1,2024-01-15,won,")}
    )

    with pytest.raises(
        DataContractError,
        match=r"column 'closed_at', value '2024-01-15': before registered_at "
        r"'2024-02-01' \(an interval cannot end before it starts\)",
    ):
        load_dataset(folder)


def test_validate_interactions_response_before_question_raises(tmp_path: Path) -> None:
    """Check that a response stamped before its question is a violation."""
    folder = write_dataset(
        tmp_path,
        {
            "deals": deals_csv(GOOD),
            "interactions": "interaction_id,partner_id,occurred_at,responded_at\n"
            "I1,P1,2024-01-05T10:00:00Z,2024-01-05T09:00:00Z\n",
        },
    )

    with pytest.raises(
        DataContractError,
        match=r"interactions\.csv row 1 \(line 2\), column 'responded_at', value "
        r"'2024-01-05T09:00:00Z': before occurred_at '2024-01-05T10:00:00Z' "
        r"\(a response cannot come before the question it answers\)",
    ):
        load_dataset(folder)


@pytest.mark.parametrize(
    ("table", "csv_text", "column"),
    [
        (
            "partners",
            "partner_id,signed_at,terminated_at\nP1,2023-01-01,2022-12-31\n",
            "terminated_at",
        ),
        (
            "partner_reps",
            "rep_id,partner_id,joined_at,left_at\nR1,P1,2023-01-01,2022-12-31\n",
            "left_at",
        ),
        (
            "psm_assignments",
            "partner_id,psm_id,assigned_at,unassigned_at\nP1,S1,2023-01-01,2022-12-31\n",
            "unassigned_at",
        ),
    ],
)
def test_validate_interval_end_before_start_raises(
    tmp_path: Path, table: str, csv_text: str, column: str
) -> None:
    """Check that every interval of the contract rejects an end before its start."""
    folder = write_dataset(tmp_path, {"deals": deals_csv(GOOD), table: csv_text})

    with pytest.raises(
        DataContractError,
        match=rf"{table}\.csv row 1 \(line 2\), column '{column}', "
        r"value '2022-12-31': before ",
    ):
        load_dataset(folder)


def test_validate_deals_event_after_extract_raises(tmp_path: Path) -> None:
    """Check that a deal registered after the extract time is a violation."""
    folder = write_dataset(
        tmp_path, {"deals": deals_csv(GOOD, "D2,P1,2024-07-01,R1,,open,")}
    )

    with pytest.raises(
        DataContractError,
        match=r"row 2 \(line 3\), column 'registered_at', value '2024-07-01': "
        r"after the extract time 2024-06-30T00:00:00\+00:00",
    ):
        load_dataset(folder)


def test_validate_deals_closed_after_extract_raises(tmp_path: Path) -> None:
    """Check that every timestamp column, not only the event time, is checked."""
    folder = write_dataset(
        tmp_path, {"deals": deals_csv("D1,P1,2024-06-01,R1,2024-08-01,won,")}
    )

    with pytest.raises(
        DataContractError,
        match=r"column 'closed_at', value '2024-08-01': after the extract time",
    ):
        load_dataset(folder)


def test_validate_deals_amount_not_a_number_raises(tmp_path: Path) -> None:
    """Check that an amount that is not a number names the value."""
    folder = write_dataset(
        tmp_path, {"deals": deals_csv("D1,P1,2024-06-01,R1,,open,12 yen")}
    )

    with pytest.raises(
        DataContractError, match=r"column 'amount', value '12 yen': not a number"
    ):
        load_dataset(folder)


def test_validate_deals_fractional_float_id_raises() -> None:
    """Check that an id read as a float with a fraction is a violation."""
    raw = {
        "deals": pd.DataFrame(
            {
                "deal_id": [1.0, 2.5],
                "partner_id": ["P1", "P1"],
                "registered_at": "2024-01-01",
            }
        )
    }

    with pytest.raises(
        DataContractError,
        match=r"deals row 2, column 'deal_id', value 2\.5: an id read as a number "
        r"must be a whole number",
    ):
        validate_tables(raw, UTC_CONFIG)


def test_validate_deals_many_violations_lists_twenty_and_total(tmp_path: Path) -> None:
    """Check that the error lists 20 violations, the total, and what to do next."""
    rows = [f"D{i},P1,2024-01-01,,,bad," for i in range(25)]
    folder = write_dataset(tmp_path, {"deals": deals_csv(*rows)})

    with pytest.raises(
        DataContractError,
        match=r"^25 row\(s\) break the data contract "
        r"\(25 violation\(s\) in deals\.csv\)"
        r"; the first 20:",
    ) as caught:
        load_dataset(folder)

    message = str(caught.value)
    assert message.count("\n  - ") == 20
    assert "row 20 (line 21)" in message
    assert "row 21 (line 22)" not in message
    assert message.endswith(
        "Fix these rows in the source; `ghost-model validate --data DIR --quarantine` "
        "writes each with its reason to DIR/quarantine/<table>.csv and goes on with "
        "the valid rows (from Python: load_dataset(..., quarantine=True))."
    )


def test_validate_tables_missing_deals_raises() -> None:
    """Check that a dataset without deals is refused."""
    raw = {"partners": pd.DataFrame({"partner_id": ["P1"]})}

    with pytest.raises(DataContractError, match=r"no 'deals' table"):
        validate_tables(raw, UTC_CONFIG)


def test_validate_tables_typed_records_accepted() -> None:
    """Check that typed frames (as from JSON) convert to canonical dtypes."""
    raw = {
        "deals": pd.DataFrame.from_records(
            [
                {
                    "deal_id": 1,
                    "partner_id": 10,
                    "registered_at": "2024-01-01T09:00:00+09:00",
                },
                {
                    "deal_id": 2,
                    "partner_id": 10,
                    "registered_at": "2024-01-02",
                    "amount": 5,
                },
            ]
        )
    }

    dataset = validate_tables(raw, UTC_CONFIG, sources={"deals": "tables.deals"})

    deals = dataset.table("deals")
    assert deals["deal_id"].tolist() == ["1", "2"]
    assert deals["partner_id"].tolist() == ["10", "10"]
    assert deals["registered_at"].tolist() == [
        pd.Timestamp("2024-01-01T00:00:00Z"),
        pd.Timestamp("2024-01-02T00:00:00Z"),
    ]
    assert deals["amount"].isna().tolist() == [True, False]


def test_validate_tables_unknown_table_warns(caplog: pytest.LogCaptureFixture) -> None:
    """Check that a table outside the contract is ignored with a warning naming it."""
    raw = {
        "deals": pd.DataFrame(
            {"deal_id": ["D1"], "partner_id": ["P1"], "registered_at": ["2024-01-01"]}
        ),
        "invoices": pd.DataFrame({"x": [1]}),
    }

    with caplog.at_level(logging.WARNING):
        dataset = validate_tables(raw, UTC_CONFIG)

    assert "invoices" not in dataset.tables
    assert (
        "ignoring tables that are not in the data contract: 'invoices'" in caplog.text
    )


def test_validate_deals_extra_column_dropped_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that a column outside the contract is dropped with a warning naming it."""
    folder = write_dataset(
        tmp_path,
        {"deals": "deal_id,partner_id,registered_at,memo\nD1,P1,2024-01-01,x\n"},
    )

    with caplog.at_level(logging.WARNING):
        dataset = load_dataset(folder)

    assert "memo" not in dataset.table("deals").columns
    assert (
        "deals.csv: dropping column(s) not in the 'deals' contract table: 'memo'"
        in (caplog.text)
    )


def test_quarantine_deals_writes_rows_with_reasons(tmp_path: Path) -> None:
    """Check that quarantine keeps valid rows and writes the others with reasons."""
    folder = write_dataset(
        tmp_path,
        {
            "deals": deals_csv(
                GOOD,
                "D2,,2024-01-06,R1,,maybe,",
                "D3,P1,2024-01-07,R1,,open,",
                "D3,P2,2024-01-07,R1,,open,",
                "D4,P1,2024-01-08,R1,,open,",
                "D4,P1,2024-01-08,R1,,open,",
            )
        },
    )

    dataset = load_dataset(folder, quarantine=True)

    assert dataset.table("deals")["deal_id"].tolist() == ["D1", "D4"]
    assert dataset.row_counts["deals"] == {
        "read": 6,
        "accepted": 2,
        "quarantined": 3,
        "duplicates": 1,
    }
    written = pd.read_csv(folder / "quarantine" / "deals.csv", dtype=str)
    assert written.columns.tolist()[-2:] == ["source_row", "reason"]
    assert written["source_row"].tolist() == ["2", "3", "4"]
    assert written["reason"].tolist() == [
        "partner_id: a required value is missing; "
        "outcome: not one of 'lost', 'open', 'won'",
        "deal_id: another, different row has the same deal_id",
        "deal_id: another, different row has the same deal_id",
    ]
    assert written["outcome"].tolist()[0] == "maybe"


def test_quarantine_deals_custom_folder_and_stale_file_removed(tmp_path: Path) -> None:
    """Check that a clean rerun removes the quarantine file of an earlier run."""
    out = tmp_path / "rejected"
    bad = write_dataset(tmp_path / "bad", {"deals": deals_csv(GOOD, "D2,P1,x,,,,")})
    load_dataset(bad, quarantine=True, quarantine_dir=out)
    assert (out / "deals.csv").is_file()

    good = write_dataset(tmp_path / "good", {"deals": deals_csv(GOOD)})
    load_dataset(good, quarantine=True, quarantine_dir=out)

    assert not (out / "deals.csv").exists()
