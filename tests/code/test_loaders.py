"""Reading datasets: CSV, Parquet and DuckDB load equal; folder rules; float ids."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ghost_model.errors import DataContractError
from ghost_model.loaders import load_dataset

YAML = "timezone: Asia/Tokyo\nextract_time: 2024-06-30T23:59:59\n"

DEALS = pd.DataFrame(
    {
        "deal_id": ["D1", "D2", "D3"],
        "partner_id": ["P1", "P1", "P2"],
        "registered_at": ["2024-01-05 10:00:00", "2024-02-01 09:30:00", "2024-03-01"],
        "rep_id": ["R1", None, "R2"],
        "closed_at": ["2024-02-01 00:00:00", None, None],
        "outcome": ["won", "open", None],
        "amount": [1200.0, None, 30.5],
    }
)
REPS = pd.DataFrame(
    {
        "rep_id": ["R1", "R2"],
        "partner_id": ["P1", "P2"],
        "joined_at": ["2023-04-01", "2023-05-01"],
        "left_at": [None, "2024-04-01"],
    }
)


def write_folder(folder: Path, tables: dict[str, pd.DataFrame], fmt: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.yaml").write_text(YAML, encoding="utf-8")
    for name, frame in tables.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def write_duckdb(path: Path, tables: dict[str, pd.DataFrame], metadata: bool) -> Path:
    con = duckdb.connect(str(path))
    for name, frame in tables.items():
        con.register("frame", frame)
        con.execute(f"create table {name} as select * from frame")
        con.unregister("frame")
    if metadata:
        con.execute(
            "create table dataset as select 'Asia/Tokyo' as timezone, "
            "'2024-06-30T23:59:59' as extract_time, 'db' as name"
        )
    con.close()
    return path


def assert_same_tables(
    left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]
) -> None:
    assert sorted(left) == sorted(right)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name])


def test_load_csv_parquet_duckdb_equal(tmp_path: Path) -> None:
    """Check that one dataset written as CSV, Parquet and DuckDB loads equal."""
    tables = {"deals": DEALS, "partner_reps": REPS}
    from_csv = load_dataset(write_folder(tmp_path / "csv", tables, "csv"))
    from_parquet = load_dataset(write_folder(tmp_path / "pq", tables, "parquet"))
    from_duckdb = load_dataset(
        write_duckdb(tmp_path / "data.duckdb", tables, metadata=True)
    )

    assert_same_tables(from_csv.tables, from_parquet.tables)
    assert_same_tables(from_csv.tables, from_duckdb.tables)
    assert from_duckdb.config.timezone == "Asia/Tokyo"
    assert from_duckdb.extract_time == from_csv.extract_time
    assert from_csv.table("deals")["registered_at"].iloc[0] == pd.Timestamp(
        "2024-01-05T01:00:00Z"
    )


def test_load_duckdb_typed_columns_equal_csv(tmp_path: Path) -> None:
    """Check that DuckDB TIMESTAMP, TIMESTAMPTZ and BIGINT columns load as the CSV."""
    path = tmp_path / "typed.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "create table deals as select * from (values "
        "(1::bigint, 10::bigint, timestamp '2024-01-05 10:00:00', "
        "timestamptz '2024-02-01 00:00:00+09')) t(deal_id, partner_id, registered_at, "
        "closed_at)"
    )
    con.close()
    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (folder / "deals.csv").write_text(
        "deal_id,partner_id,registered_at,closed_at\n"
        "1,10,2024-01-05 10:00:00,2024-02-01T00:00:00+09:00\n",
        encoding="utf-8",
    )

    from_duckdb = load_dataset(path)
    from_csv = load_dataset(folder)

    assert_same_tables(from_duckdb.tables, from_csv.tables)


def test_load_duckdb_without_config_raises(tmp_path: Path) -> None:
    """Check that a DuckDB file with no dataset table and no dataset.yaml is refused."""
    path = write_duckdb(tmp_path / "bare.duckdb", {"deals": DEALS}, metadata=False)

    with pytest.raises(DataContractError, match=r"dataset\.yaml: missing"):
        load_dataset(path)


def test_load_folder_deals_only(tmp_path: Path) -> None:
    """Check that deals.csv plus dataset.yaml is a complete dataset."""
    dataset = load_dataset(write_folder(tmp_path, {"deals": DEALS}, "csv"))

    assert list(dataset.tables) == ["deals"]
    assert dataset.row_counts["deals"]["accepted"] == 3
    assert not dataset.has("partners")


def test_load_folder_table_in_two_formats_raises(tmp_path: Path) -> None:
    """Check that deals.csv next to deals.parquet is refused."""
    folder = write_folder(tmp_path, {"deals": DEALS}, "csv")
    DEALS.to_parquet(folder / "deals.parquet", index=False)

    with pytest.raises(
        DataContractError,
        match=r"table 'deals' is given twice, as deals\.csv and deals\.parquet",
    ):
        load_dataset(folder)


def test_load_folder_without_deals_raises(tmp_path: Path) -> None:
    """Check that a folder without deals names the files it found."""
    folder = write_folder(tmp_path, {"partner_reps": REPS}, "csv")

    with pytest.raises(
        DataContractError, match=r"no deals\.csv or deals\.parquet.*partner_reps\.csv"
    ):
        load_dataset(folder)


def test_load_folder_without_yaml_raises(tmp_path: Path) -> None:
    """Check that a folder without dataset.yaml says what the file must state."""
    DEALS.to_csv(tmp_path / "deals.csv", index=False)

    with pytest.raises(DataContractError, match=r"dataset\.yaml: missing.*'timezone'"):
        load_dataset(tmp_path)


def test_load_missing_path_raises(tmp_path: Path) -> None:
    """Check that a path that is neither a folder nor a DuckDB file is refused."""
    with pytest.raises(DataContractError, match=r"not a dataset folder or a DuckDB"):
        load_dataset(tmp_path / "nowhere")


def test_load_folder_unknown_files_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that unknown files are named in a warning; truth.csv is not."""
    folder = write_folder(tmp_path, {"deals": DEALS}, "csv")
    (folder / "notes.txt").write_text("x", encoding="utf-8")
    (folder / "invoices.csv").write_text("a\n1\n", encoding="utf-8")
    (folder / "truth.csv").write_text("partner_id\nP1\n", encoding="utf-8")

    with caplog.at_level(logging.WARNING):
        load_dataset(folder)

    assert "ignoring entries not in the data contract: 'invoices.csv', 'notes.txt'" in (
        caplog.text
    )
    assert "truth.csv" not in caplog.text


def test_load_parquet_float_ids_become_text(tmp_path: Path) -> None:
    """Check that ids stored as floats (12345.0) become '12345'."""
    deals = pd.DataFrame(
        {
            "deal_id": [12345.0, 12346.0],
            "partner_id": [7.0, None],
            "registered_at": pd.to_datetime(["2024-01-05", "2024-01-06"]),
            "rep_id": [3.0, float("nan")],
        }
    )
    folder = write_folder(tmp_path, {"deals": deals}, "parquet")

    with pytest.raises(
        DataContractError, match=r"row 2, column 'partner_id', value None"
    ):
        load_dataset(folder)

    deals["partner_id"] = [7.0, 8.0]
    dataset = load_dataset(write_folder(tmp_path / "ok", {"deals": deals}, "parquet"))
    loaded = dataset.table("deals")
    assert loaded["deal_id"].tolist() == ["12345", "12346"]
    assert loaded["partner_id"].tolist() == ["7", "8"]
    assert loaded["rep_id"].iloc[0] == "3"
    assert pd.isna(loaded["rep_id"].iloc[1])


def test_load_csv_ids_read_as_written_in_every_file(tmp_path: Path) -> None:
    """Check that a CSV id written '25.0' reads the same in every file, whatever the
    other ids of its column, so that joins between the files hold."""
    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "deals.csv").write_text(
        "deal_id,partner_id,registered_at\n12345.0,25.0,2024-01-05\n99,A.2,2024-01-06\n"
        "100,26.0,2024-01-06\n",
        encoding="utf-8",
    )
    (tmp_path / "partners.csv").write_text(
        "partner_id,name\n25.0,Aoba\n26.0,Fuji\n", encoding="utf-8"
    )

    dataset = load_dataset(tmp_path)

    deals = dataset.table("deals")
    assert deals["deal_id"].tolist() == ["12345.0", "99", "100"]
    assert deals["partner_id"].tolist() == ["25.0", "A.2", "26.0"]
    assert dataset.table("partners")["partner_id"].tolist() == ["25.0", "26.0"]


def test_load_csv_keeps_na_text_and_leading_zeros(tmp_path: Path) -> None:
    """Check that 'NA' is a value, not missing, and that ids keep leading zeros."""
    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "partners.csv").write_text(
        "partner_id,region\n007,NA\n", encoding="utf-8"
    )
    (tmp_path / "deals.csv").write_text(
        "deal_id,partner_id,registered_at\n001,007,2024-01-05\n", encoding="utf-8"
    )

    dataset = load_dataset(tmp_path)

    assert dataset.table("partners")["region"].tolist() == ["NA"]
    assert dataset.table("deals")["partner_id"].tolist() == ["007"]


def test_load_csv_not_utf8_raises(tmp_path: Path) -> None:
    """Check that a Shift_JIS export is refused with the fix in the message."""
    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "deals.csv").write_bytes(
        "deal_id,partner_id,registered_at\nD1,株式会社,2024-01-05\n".encode("cp932")
    )

    with pytest.raises(DataContractError, match=r"deals\.csv: not UTF-8 text.*UTF-8"):
        load_dataset(tmp_path)


def test_load_csv_with_bom_reads_header(tmp_path: Path) -> None:
    """Check that a UTF-8 byte-order mark does not spoil the first column name."""
    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "deals.csv").write_text(
        "deal_id,partner_id,registered_at\nD1,P1,2024-01-05\n", encoding="utf-8-sig"
    )

    assert load_dataset(tmp_path).table("deals")["deal_id"].tolist() == ["D1"]


def test_load_csv_quoted_line_break_reads_value(tmp_path: Path) -> None:
    """Check that a quoted field holding a line break is read as one value."""
    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "partners.csv").write_text(
        'partner_id,name\nP1,"Aoba\nSystems"\nP2,Fuji\n', encoding="utf-8"
    )
    (tmp_path / "deals.csv").write_text(
        "deal_id,partner_id,registered_at\nD1,P1,2024-01-05\n", encoding="utf-8"
    )

    partners = load_dataset(tmp_path).table("partners")

    assert partners["name"].tolist() == ["Aoba\nSystems", "Fuji"]


def test_load_simulated_ecosystem_round_trips(tmp_path: Path) -> None:
    """Check that the simulator's Parquet dataset loads back unchanged and complete."""
    from ghost_model.simulate import simulate_ecosystem, write_ecosystem

    ecosystem = simulate_ecosystem(partners=40, months=6)
    write_ecosystem(ecosystem, tmp_path)

    dataset = load_dataset(tmp_path)

    assert_same_tables(dataset.tables, ecosystem.tables)
    assert all(c["quarantined"] == 0 for c in dataset.row_counts.values())
    assert dataset.extract_time == ecosystem.config.extract_time


def test_load_csv_duplicate_header_raises(tmp_path: Path) -> None:
    """Check that a column named twice in the header is refused, not read 'x.1'."""
    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "deals.csv").write_text(
        "deal_id,partner_id,registered_at,outcome,outcome\nD1,P1,2024-01-05,won,lost\n",
        encoding="utf-8",
    )

    with pytest.raises(
        DataContractError,
        match=r"deals\.csv: the header names a column more than once \('outcome' in "
        r"columns 4, 5\); keep one column per name",
    ):
        load_dataset(tmp_path, quarantine=True)


def test_load_truncated_gzip_raises_naming_file(tmp_path: Path) -> None:
    """Check that a .csv.gz cut short is a contract error naming it, not EOFError."""
    import gzip

    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    rows = "".join(f"D{i},P1,2024-01-05\n" for i in range(2000))
    packed = gzip.compress(("deal_id,partner_id,registered_at\n" + rows).encode())
    (tmp_path / "deals.csv.gz").write_bytes(packed[: len(packed) // 2])

    with pytest.raises(
        DataContractError, match=r"deals\.csv\.gz: cannot be read, the compressed data"
    ):
        load_dataset(tmp_path)


def write_deals_csv(folder: Path, text: str, suffix: str = ".csv") -> Path:
    """A dataset folder whose deals file holds exactly ``text``."""
    import gzip

    (folder / "dataset.yaml").write_text(YAML, encoding="utf-8")
    data = text.encode("utf-8")
    (folder / f"deals{suffix}").write_bytes(
        gzip.compress(data) if suffix.endswith(".gz") else data
    )
    return folder


@pytest.mark.parametrize(("suffix", "quarantine"), [(".csv", False), (".csv.gz", True)])
def test_load_csv_unclosed_quote_raises_naming_line(
    tmp_path: Path, suffix: str, quarantine: bool
) -> None:
    """Check that a quote left open in the last column fails the file at its line.

    Arrow's reader takes such a field to the end of the file, so the later rows
    would vanish into one value.
    """
    write_deals_csv(
        tmp_path,
        "deal_id,partner_id,registered_at,product\n"
        "D0,P1,2024-05-01,Box\n"
        'D1,P1,2024-05-01,"Acme Pack\n'
        "D2,P1,2024-05-02,X\n"
        "D3,P2,2024-05-03,Y\n",
        suffix,
    )

    with pytest.raises(
        DataContractError,
        match=rf"deals{re.escape(suffix)} line 3: a quoted field opens here and is "
        "never closed",
    ):
        load_dataset(tmp_path, quarantine=quarantine)


def test_load_csv_unclosed_quote_in_large_file_raises_naming_line(
    tmp_path: Path,
) -> None:
    """Check that a quote left open mid-file in a file of many blocks loses no rows."""
    rows = [f"D{i},P1,2024-05-01" for i in range(100_000)]
    rows[60_000] = 'D60000,"P1,2024-05-01'
    write_deals_csv(
        tmp_path, "deal_id,partner_id,registered_at\n" + "\n".join(rows) + "\n"
    )

    with pytest.raises(
        DataContractError,
        match=r"deals\.csv line 60002: a quoted field opens here and is never closed",
    ):
        load_dataset(tmp_path)


@pytest.mark.parametrize("quarantine", [False, True])
@pytest.mark.parametrize(
    ("rows", "line"),
    [
        ("D1,P1,2024-05-01,2024-05-02\nD2,P2,2024-05-03,2024-05-04\n", 2),
        ("D1,P1,2024-05-01,2024-05-02\nD2,P2,2024-05-03\n", 2),
        ("D1,P1,2024-05-01\n\nD2,P2,2024-05-03,2024-05-04\n", 4),
        ("D1,P1,2024-05-01,\nD2,P2,2024-05-03,\n", 2),
    ],
    ids=["every-row", "first-row", "later-row", "trailing-comma"],
)
def test_load_csv_row_with_extra_field_raises_naming_line(
    tmp_path: Path, rows: str, line: int, quarantine: bool
) -> None:
    """Check that a row with more fields than the header fails the whole file.

    pandas would otherwise take the first column as the index and shift every
    value one column left.
    """
    write_deals_csv(tmp_path, "deal_id,partner_id,registered_at\n" + rows)

    with pytest.raises(
        DataContractError,
        match=rf"deals\.csv line {line}: 4 fields, but the header names 3 columns",
    ):
        load_dataset(tmp_path, quarantine=quarantine)


def test_load_csv_short_row_reads_missing_fields_empty(tmp_path: Path) -> None:
    """Check that a row with fewer fields than the header is read, its end empty."""
    write_deals_csv(
        tmp_path,
        "deal_id,partner_id,registered_at,outcome\nD1,P1,2024-05-01\n"
        "D2,P2,2024-05-02,won\n",
    )

    deals = load_dataset(tmp_path).table("deals")

    assert deals["partner_id"].tolist() == ["P1", "P2"]
    assert deals["outcome"].isna().tolist() == [True, False]


@pytest.mark.parametrize(
    ("rows", "place"),
    [
        (
            "\n\nD1,P1,2024-05-01\n\nD2,P1,2024-05-02\nD3,P1,2024-13-01\n",
            "row 3 (line 7)",
        ),
        ('D1,"P\n1",2024-05-01\n\nD2,P1,2024-13-01\n', "row 2 (line 5)"),
        ("D1,P1,2024-05-01\r\n\r\nD2,P1,2024-13-01\r\n", "row 2 (line 4)"),
        ("D1,P1,2024-05-01,\nD2,P1,2024-13-01\n", "row 2 (line 3)"),
    ],
    ids=["blank-lines", "quoted-line-break", "crlf", "regular"],
)
def test_load_csv_violation_names_exact_line(
    tmp_path: Path, rows: str, place: str
) -> None:
    """Check that the line in a message is the file's line, whatever came before.

    Blank lines are skipped and a quoted value may span lines, so the row number
    alone does not give the line.
    """
    write_deals_csv(tmp_path, "deal_id,partner_id,registered_at,product\n" + rows)

    with pytest.raises(
        DataContractError,
        match=rf"deals\.csv {re.escape(place)}, column 'registered_at', "
        r"value '2024-13-01'",
    ):
        load_dataset(tmp_path)


@pytest.mark.parametrize("after", ["  ", "\t"])
def test_load_csv_last_value_with_line_break_then_spaces_reads(
    tmp_path: Path, after: str
) -> None:
    """Check that spaces after the closing quote of a last value holding a line break
    do not read as a quote left open."""
    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "deals.csv").write_text(
        "deal_id,partner_id,registered_at\nD1,P1,2024-01-05\n", encoding="utf-8"
    )
    (tmp_path / "partners.csv").write_text(
        f'partner_id,name\nP1,x\nP2,"Aoba\nSystems"{after}\n', encoding="utf-8"
    )

    partners = load_dataset(tmp_path).table("partners")

    assert partners["partner_id"].tolist() == ["P1", "P2"]
    assert partners["name"].iloc[1] == "Aoba\nSystems"


def _partners_with_stray_quotes(folder: Path, end: str = "\n") -> None:
    """Partner P1's name opens a quote by mistake; P2's inch mark closes it."""
    (folder / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (folder / "deals.csv").write_text(
        "deal_id,partner_id,registered_at\nD1,P1,2024-01-05\n", encoding="utf-8"
    )
    lines = ["partner_id,tier,name", 'P1,gold,"Acme', 'P2,gold,Pipe 12"', "P3,gold,x"]
    newline = end or "\n"
    (folder / "partners.csv").write_bytes((newline.join(lines) + end).encode())


@pytest.mark.parametrize("end", ["", "\n", "\r\n"])
def test_load_csv_rows_swallowed_by_stray_quotes_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, end: str
) -> None:
    """Check that a quote opened by mistake and closed by an inch mark a row later is
    named in a warning (the row in between is read as text of a name), however the
    lines end: the quick line count behind it is not fooled."""
    _partners_with_stray_quotes(tmp_path, end)

    with caplog.at_level(logging.WARNING, logger="ghost_model.loaders"):
        partners = load_dataset(tmp_path).table("partners")

    assert partners["partner_id"].tolist() == ["P1", "P3"]
    assert "partners.csv row 1, column 'name'" in caplog.text
    assert "looks like a whole row" in caplog.text


def test_load_csv_multi_line_note_no_swallow_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that an ordinary multi-line value gives no such warning."""
    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "deals.csv").write_text(
        "deal_id,partner_id,registered_at\nD1,P1,2024-01-05\n", encoding="utf-8"
    )
    (tmp_path / "partners.csv").write_text(
        'partner_id,tier,name\nP1,gold,"Aoba, Systems\nand Support"\n',
        encoding="utf-8",
    )

    with caplog.at_level(logging.WARNING, logger="ghost_model.loaders"):
        load_dataset(tmp_path)

    assert "looks like a whole row" not in caplog.text


def test_load_csv_swallowed_rows_warn_on_pandas_fallback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that the warning also comes when a short row sends the file to pandas'
    parser (Arrow refuses short rows)."""
    _partners_with_stray_quotes(tmp_path)
    with (tmp_path / "partners.csv").open("a", encoding="utf-8") as handle:
        handle.write("P4,gold\n")

    with caplog.at_level(logging.WARNING, logger="ghost_model.loaders"):
        partners = load_dataset(tmp_path).table("partners")

    assert partners["partner_id"].tolist() == ["P1", "P3", "P4"]
    assert "partners.csv row 1, column 'name'" in caplog.text
