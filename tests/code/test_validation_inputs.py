"""Inputs the loader must refuse or read safely: quarantine folders, odd files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghost_model.errors import ConfigError
from ghost_model.loaders import load_dataset
from ghost_model.validation import QUARANTINE_MARKER

YAML = "timezone: UTC\nextract_time: 2024-06-30T00:00:00Z\n"
DEALS = "deal_id,partner_id,registered_at\nD1,P1,2024-01-05\nD2,P1,not-a-date\n"


def write_dataset(folder: Path, deals: str = DEALS) -> Path:
    """A dataset folder with ``dataset.yaml`` and ``deals.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (folder / "deals.csv").write_text(deals, encoding="utf-8")
    return folder


def test_quarantine_dir_data_folder_raises_and_keeps_tables(tmp_path: Path) -> None:
    """Check that the data folder itself is refused and its files stay untouched."""
    folder = write_dataset(tmp_path / "data")

    with pytest.raises(ConfigError, match=r"--quarantine-dir.*dataset's own file"):
        load_dataset(folder, quarantine=True, quarantine_dir=folder)

    assert (folder / "deals.csv").read_text(encoding="utf-8") == DEALS


def test_quarantine_dir_empty_or_current_folder_raises(tmp_path: Path) -> None:
    """Check that '' and '.' (the current folder) are refused as quarantine folders."""
    folder = write_dataset(tmp_path / "data")

    for given in ("", "."):
        with pytest.raises(ConfigError, match=r"--quarantine-dir.*current folder"):
            load_dataset(folder, quarantine=True, quarantine_dir=given)


def test_quarantine_dir_plain_file_raises(tmp_path: Path) -> None:
    """Check that a file where the quarantine folder should be is named, not mkdir'd."""
    folder = write_dataset(tmp_path / "data")
    (folder / "quarantine").write_text("notes\n", encoding="utf-8")
    given = tmp_path / "rejected.txt"
    given.write_text("notes\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"quarantine.*exists and is not a folder"):
        load_dataset(folder, quarantine=True)
    with pytest.raises(ConfigError, match=r"rejected\.txt exists and is not a folder"):
        load_dataset(folder, quarantine=True, quarantine_dir=given)


def test_quarantine_dir_unmarked_with_table_file_raises(tmp_path: Path) -> None:
    """Check that a deals.csv ghost-model did not write is neither overwritten nor
    removed by a rerun."""
    folder = write_dataset(tmp_path / "data")
    other = write_dataset(tmp_path / "other", "deal_id\nmine\n")
    clean = write_dataset(tmp_path / "clean", DEALS.splitlines()[0] + "\n")

    for dataset in (folder, clean):
        with pytest.raises(
            ConfigError, match=rf"\['deals.csv'\] but no {QUARANTINE_MARKER}"
        ):
            load_dataset(dataset, quarantine=True, quarantine_dir=other)

    assert (other / "deals.csv").read_text(encoding="utf-8") == "deal_id\nmine\n"


def test_quarantine_dir_created_is_marked_and_reused(tmp_path: Path) -> None:
    """Check that the folder quarantine mode creates is marked and reused."""
    folder = write_dataset(tmp_path / "data")

    load_dataset(folder, quarantine=True)
    load_dataset(folder, quarantine=True)

    assert (folder / "quarantine" / QUARANTINE_MARKER).is_file()
    assert (folder / "quarantine" / "deals.csv").is_file()


def test_validate_timestamp_before_1900_raises_same_for_csv_and_parquet(
    tmp_path: Path,
) -> None:
    """Check that year-1 placeholders are out of range, as text or typed dates (also
    beside a nanosecond value, which once made pandas drop them as unreadable)."""
    import datetime as dt

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ghost_model.errors import DataContractError

    rule = r"outside the supported range \(1900-01-01T00:00:00Z onward\)"
    csv = write_dataset(
        tmp_path / "csv",
        "deal_id,partner_id,registered_at\nD1,P1,2024-01-05 10:00:00.123456789\n"
        "D2,P1,0001-01-01\n",
    )
    with pytest.raises(
        DataContractError,
        match=rf"deals\.csv row 2 \(line 3\), column 'registered_at', value "
        rf"'0001-01-01': {rule}",
    ):
        load_dataset(csv)

    for name, column in {
        "text": pa.array(["2024-01-05", "0001-01-01"]),
        "date32": pa.array([dt.date(2024, 1, 5), dt.date(1, 1, 1)], pa.date32()),
    }.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "dataset.yaml").write_text(YAML, encoding="utf-8")
        table = pa.table(
            {
                "deal_id": ["D1", "D2"],
                "partner_id": ["P1", "P1"],
                "registered_at": column,
            }
        )
        pq.write_table(table, folder / "deals.parquet")

        dataset = load_dataset(folder, quarantine=True)

        assert dataset.table("deals")["deal_id"].tolist() == ["D1"]
        written = pd.read_csv(folder / "quarantine" / "deals.csv", dtype=str)
        assert written["reason"].str.fullmatch(f"registered_at: {rule}.*").all()


def test_load_parquet_bytes_decoded_and_lists_refused(tmp_path: Path) -> None:
    """Check that UTF-8 binary ids read as text, while undecodable bytes and list
    cells are violations naming row and column (not "b'D1'" or '[1 2]')."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ghost_model.errors import DataContractError

    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    table = pa.table(
        {
            "deal_id": pa.array([b"D1", b"D2", b"\xff\xfe"], pa.binary()),
            "partner_id": ["P1", "P1", "P1"],
            "registered_at": ["2024-01-05", "2024-01-06", "2024-01-07"],
            "product": pa.array([None, [1, 2], None], pa.list_(pa.int64())),
        }
    )
    pq.write_table(table, tmp_path / "deals.parquet")

    with pytest.raises(DataContractError) as raised:
        load_dataset(tmp_path)
    message = str(raised.value)
    assert (
        "deals.parquet row 2, column 'product', value array([1, 2]): a list or "
        "nested value, not one value" in message
    )
    assert (
        "deals.parquet row 3, column 'deal_id', value b'\\xff\\xfe': bytes that are "
        "not UTF-8 text" in message
    )

    deals = load_dataset(tmp_path, quarantine=True).table("deals")
    assert deals["deal_id"].tolist() == ["D1"]


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("partner_id", [b"\xff\xfe", b"P2"], ["X1"]),
        ("deal_id", [b"\xff\xfe", b"D2", b"D2"], []),
    ],
    ids=["beside-shared-event-time", "beside-repeated-id"],
)
def test_load_parquet_undecodable_bytes_is_violation_not_crash(
    tmp_path: Path, column: str, values: list[bytes], expected: list[str]
) -> None:
    """Check that bytes that are not UTF-8 stay a violation naming row and column
    when rows share an event time (the duplicate search) or when another id of the
    column is repeated (the message naming the rows that share it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ghost_model.errors import DataContractError

    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    other = "partner_id" if column == "deal_id" else "deal_id"
    table = pa.table(
        {
            column: pa.array(values, pa.binary()),
            other: [f"X{i}" for i in range(len(values))],
            "registered_at": ["2024-01-05"] * len(values),
        }
    )
    pq.write_table(table, tmp_path / "deals.parquet")

    with pytest.raises(
        DataContractError,
        match=rf"deals\.parquet row 1, column '{column}', value b'\\xff\\xfe': "
        "bytes that are not UTF-8 text",
    ):
        load_dataset(tmp_path)

    deals = load_dataset(tmp_path, quarantine=True).table("deals")
    assert deals["deal_id"].tolist() == expected


def test_validate_huge_value_shown_cut_with_length(tmp_path: Path) -> None:
    """Check that a 1 MB bad value is cut to about 80 characters in the message."""
    from ghost_model.errors import DataContractError

    huge = "x" * 1_000_000
    folder = write_dataset(
        tmp_path, f"deal_id,partner_id,registered_at\nD1,P1,{huge}\n"
    )

    with pytest.raises(DataContractError) as raised:
        load_dataset(folder)

    message = str(raised.value)
    assert len(message) < 1000
    assert (
        "value '" + "x" * 79 + "... (1,000,000 characters): not an ISO 8601 timestamp"
    ) in message
