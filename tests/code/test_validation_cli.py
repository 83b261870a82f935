"""``ghost-model validate`` end to end: a valid dataset, then one fault per rule."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipelines.cli import main

VALID = {
    "deals": """\
deal_id,partner_id,registered_at,rep_id,closed_at,outcome,stage,amount,product
D1,P1,2024-01-05 10:00,R1,2024-02-01 12:00,won,closed,1200,Suite
D2,P1,2024-02-10 09:00,R2,,open,proposal,,Suite
D3,P2,2024-03-01,R3,2024-03-20,lost,closed,300.5,Lite
D4,P2,2024-04-01 15:30,R3,,open,,,
""",
    "partners": """\
partner_id,name,tier,region,signed_at,terminated_at
P1,Aoba Systems,gold,Kanto,2020-04-01,
P2,Fuji Trading,silver,Kansai,2021-10-01,
""",
    "partner_reps": """\
rep_id,partner_id,joined_at,left_at
R1,P1,2020-04-01,
R2,P1,2022-06-01,2024-05-31
R3,P2,2021-10-01,
""",
    "interactions": """\
interaction_id,partner_id,occurred_at,rep_id,direction,kind,channel,responded_at
I1,P1,2024-01-10 10:00,R1,inbound,question,email,2024-01-10 15:00
I2,P2,2024-02-10 11:00,R3,outbound,report,phone,
""",
    "portal_views": """\
partner_id,viewed_at,rep_id,asset
P1,2024-01-11 09:00,R1,price-list
P2,2024-02-12 13:00,,case-study
""",
    "psm_assignments": """\
partner_id,psm_id,assigned_at,unassigned_at
P1,S1,2020-04-01,2023-03-31
P1,S2,2023-04-01,
P2,S1,2021-10-01,
""",
}

# One fault per rule: (table, appended CSV row, its line, column, value, rule).
FAULTS = [
    ("deals", "D5,,2024-01-06,R1,,open,,,", 6, "partner_id", None,
     "a required value is missing"),
    ("deals", "D6,P1,2024-02-31,R1,,open,,,", 7, "registered_at", "2024-02-31",
     "not an ISO 8601 timestamp"),
    ("deals", "D7,P1,2024-01-07,R1,,pending,,,", 8, "outcome", "pending",
     "not one of 'lost', 'open', 'won'"),
    ("deals", "D1,P2,2024-01-08,R3,,open,,,", 9, "deal_id", "D1",
     "another, different row has the same deal_id (also on row 1)"),
    ("deals", "D9,P1,2024-03-01,R1,2024-02-01,won,,,", 10, "closed_at", "2024-02-01",
     "before registered_at '2024-03-01'"),
    ("deals", "D10,P1,2024-05-01,R1,2024-07-15,won,,,", 11, "closed_at", "2024-07-15",
     "after the extract time"),
    ("deals", "D11,P1,2024-05-02,R1,,open,,12k,", 12, "amount", "12k",
     "not a number"),
    ("partners", "P3,Hikari,gold,Kanto,2022-01-01,2021-01-01", 4, "terminated_at",
     "2021-01-01", "before signed_at '2022-01-01'"),
    ("partner_reps", "R4,P2,2023-01-01,2022-01-01", 5, "left_at", "2022-01-01",
     "before joined_at '2023-01-01'"),
    ("interactions",
     "I3,P1,2024-01-12 10:00,R1,inbound,question,email,2024-01-12 09:00",
     4, "responded_at", "2024-01-12 09:00",
     "before occurred_at '2024-01-12 10:00' (a response cannot come before the "
     "question it answers)"),
    ("interactions", "I4,P1,2024-01-13,R1,sideways,question,email,", 5, "direction",
     "sideways", "not one of 'inbound', 'outbound'"),
    ("interactions", "I5,P1,2024-01-14,R1,inbound,gossip,email,", 6, "kind", "gossip",
     "not one of 'consultation', 'other', 'question', 'report'"),
    ("portal_views", "P1,2024-09-01 09:00,R1,price-list", 4, "viewed_at",
     "2024-09-01 09:00", "after the extract time"),
    ("psm_assignments", "P2,S3,2024-01-01,2023-12-31", 5, "unassigned_at",
     "2023-12-31", "before assigned_at '2024-01-01'"),
]  # fmt: skip


def write_valid(folder: Path, tables: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "dataset.yaml").write_text(
        "name: cli-test\ntimezone: Asia/Tokyo\nextract_time: 2024-06-30T23:59:59\n",
        encoding="utf-8",
    )
    for name, text in (tables or VALID).items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def plant_faults(valid: Path, folder: Path) -> Path:
    shutil.copytree(valid, folder)
    for table, row, *_ in FAULTS:
        with (folder / f"{table}.csv").open("a", encoding="utf-8") as handle:
            handle.write(row + "\n")
    with (folder / "deals.csv").open("a", encoding="utf-8") as handle:
        handle.write("D4,P2,2024-04-01 15:30,R3,,open,,,\n")
    return folder


def expected_messages() -> list[str]:
    return [
        f"{table}.csv row {line - 1} (line {line}), column {column!r}, "
        f"value {value!r}: {rule}"
        for table, _, line, column, value, rule in FAULTS
    ]


def summary_row(text: str, table: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(table + " "))
    return re.split(r"\s+", line.strip())[1:]


def test_validate_cli_valid_dataset_prints_summary(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Check that a valid dataset exits 0 with one summary line per table, and that
    the per-table counts are not logged a second time."""
    folder = write_valid(tmp_path / "valid")

    with caplog.at_level(logging.INFO):
        status = main(["validate", "--data", str(folder)])

    out = capsys.readouterr().out
    assert status == 0
    assert "time zone Asia/Tokyo" in out
    assert summary_row(out, "deals") == ["4", "4", "0", "0"]
    logged = [r.name for r in caplog.records]
    assert "ghost_model.validation.validate" not in logged
    assert logging.getLogger("ghost_model.validation").level == logging.NOTSET
    assert summary_row(out, "psm_assignments") == ["3", "3", "0", "0"]
    assert "absent optional tables: none" in out
    assert "has no data" not in out


def test_validate_cli_deals_only_names_stages_without_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that absent tables and the stages left without data are named."""
    folder = write_valid(tmp_path / "deals-only", {"deals": VALID["deals"]})

    status = main(["validate", "--data", str(folder)])

    out = capsys.readouterr().out
    assert status == 0
    assert (
        "absent optional tables: partners, partner_reps, interactions, "
        "portal_views, psm_assignments" in out
    )
    assert (
        "stage 'distance' has no data (needs one of: interactions, portal_views, "
        "psm_assignments)" in out
    )
    assert "stage 'priority'" not in out


def test_validate_cli_planted_faults_each_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that strict mode exits 1 and names every planted fault."""
    folder = plant_faults(write_valid(tmp_path / "valid"), tmp_path / "faulty")

    status = main(["validate", "--data", str(folder)])

    err = capsys.readouterr().err
    assert status == 1
    # The deal_id clash also rejects the original D1 row.
    assert f"{len(FAULTS) + 1} row(s) break the data contract" in err
    missing = [message for message in expected_messages() if message not in err]
    assert missing == []


def test_validate_cli_quarantine_sets_faults_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that --quarantine exits 0, counts every row and writes the faults."""
    folder = plant_faults(write_valid(tmp_path / "valid"), tmp_path / "faulty")

    status = main(["validate", "--data", str(folder), "--quarantine"])

    out = capsys.readouterr().out
    assert status == 0
    # deals: 4 valid + 7 faulty + 1 exact duplicate; D1 clashes with a faulty row.
    assert summary_row(out, "deals") == ["12", "3", "8", "1"]
    assert summary_row(out, "interactions") == ["5", "2", "3", "0"]
    assert f"{len(FAULTS) + 1} quarantined row(s) written to" in out
    written = sorted(p.name for p in (folder / "quarantine").iterdir())
    tables = [f"{t}.csv" for t in sorted({f[0] for f in FAULTS})]
    assert written == [".ghost-model-quarantine", *tables]
    deals = pd.read_csv(folder / "quarantine" / "deals.csv", dtype=str)
    assert deals.columns.tolist()[-2:] == ["source_row", "reason"]
    first = deals.iloc[0]
    assert (first["deal_id"], first["source_row"]) == ("D1", "1")
    assert first["reason"] == "deal_id: another, different row has the same deal_id"


def test_validate_cli_missing_folder_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that a path holding no dataset is reported with a non-zero status."""
    status = main(["validate", "--data", str(tmp_path / "nothing")])

    assert status == 1
    assert "not a dataset folder or a DuckDB file" in capsys.readouterr().err
