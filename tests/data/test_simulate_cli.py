"""The ``ghost-model simulate`` command writes a complete dataset folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ghost_model.contract import TABLES
from pipelines.cli import main


def test_simulate_command_writes_dataset_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that the command writes six tables, yaml and truth, and logs a summary."""
    out = tmp_path / "eco"

    with caplog.at_level("INFO"):
        status = main(
            [
                *("simulate", "--out", str(out), "--partners", "40"),
                *("--months", "6", "--start", "2023-10-01", "--seed", "3"),
            ]
        )

    assert status == 0
    for name in TABLES:
        assert (out / f"{name}.parquet").is_file(), name
    assert (out / "dataset.yaml").is_file()
    assert len(pd.read_csv(out / "truth.csv")) == 40
    deals = pd.read_parquet(out / "deals.parquet")
    assert deals["registered_at"].min() >= pd.Timestamp("2023-10-01", tz="Asia/Tokyo")
    assert any("40 partners" in r.getMessage() for r in caplog.records)


def test_simulate_command_bad_partners_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that a non-positive partner count is an error naming the argument."""
    status = main(["simulate", "--out", str(tmp_path / "x"), "--partners", "0"])

    assert status == 2
    assert "partners=0: need at least 1 partner" in capsys.readouterr().err
