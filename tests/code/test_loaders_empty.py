"""Optional tables without rows: loaded, and named in a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ghost_model.loaders import load_dataset

YAML = "timezone: Asia/Tokyo\nextract_time: 2024-06-30T23:59:59\n"
DEALS = "deal_id,partner_id,registered_at\nD1,P1,2024-01-05\nD2,P2,2024-02-01\n"


def _folder(tmp_path: Path, interactions: str) -> Path:
    (tmp_path / "dataset.yaml").write_text(YAML, encoding="utf-8")
    (tmp_path / "deals.csv").write_text(DEALS, encoding="utf-8")
    (tmp_path / "interactions.csv").write_text(interactions, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("rows", "quarantine", "counts"),
    [
        ("", False, "(0 read, 0 quarantined)"),
        ("I1,P1,soon\n", True, "(1 read, 1 quarantined)"),
    ],
)
def test_load_dataset_empty_optional_table_warns(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    rows: str,
    quarantine: bool,
    counts: str,
) -> None:
    """Check that an optional table left without rows (header only, or every row
    quarantined) is kept and named in a warning: its features read as zero events."""
    folder = _folder(tmp_path, "interaction_id,partner_id,occurred_at\n" + rows)

    with caplog.at_level(logging.WARNING, logger="ghost_model.loaders"):
        dataset = load_dataset(folder, quarantine=quarantine)

    assert dataset.has("interactions")
    assert dataset.tables["interactions"].empty
    assert f"table interactions has no rows {counts}" in caplog.text
    assert "leave the table out" in caplog.text


def test_load_dataset_table_with_rows_no_empty_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that tables with rows give no such warning."""
    folder = _folder(
        tmp_path, "interaction_id,partner_id,occurred_at\nI1,P1,2024-01-09\n"
    )

    with caplog.at_level(logging.WARNING, logger="ghost_model.loaders"):
        load_dataset(folder)

    assert "has no rows" not in caplog.text
