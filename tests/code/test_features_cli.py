"""``ghost-model features``: the cutoff option is checked against the data."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from ghost_model.dataset import parse_as_of_date
from ghost_model.errors import ConfigError
from ghost_model.scoring import resolve_as_of


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("garbage", "--as-of 'garbage': expected a date YYYY-MM-DD"),
        ("2024-02-30", "--as-of '2024-02-30': expected a date YYYY-MM-DD"),
        ("2099-01-01", "lies after the data: the extract supports cutoffs up to"),
    ],
)
def test_run_features_as_of_invalid_exits_with_message(
    small_dataset_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    as_of: str,
    message: str,
) -> None:
    """Check that `ghost-model features` refuses a bad or too late cutoff."""
    from pipelines.cli import main

    out = tmp_path / "features.csv"
    args = ["--data", str(small_dataset_dir), "--as-of", as_of, "--out", str(out)]
    status = main(["features", *args])

    err = capsys.readouterr().err
    assert status == 2
    assert "ghost-model features: error:" in err
    assert message in err
    assert "Traceback" not in err
    assert not out.exists()


def test_run_features_as_of_before_data_warns_no_rows(
    small_dataset_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that a cutoff before any data writes an empty table with a warning."""
    from pipelines.cli import main

    out = tmp_path / "features.csv"
    with caplog.at_level(logging.WARNING, logger="pipelines.features"):
        args = ["--data", str(small_dataset_dir), "--as-of", "2015-01-01"]
        status = main(["features", *args, "--out", str(out)])

    assert status == 0
    assert pd.read_csv(out).empty
    assert "no partner is scored at the requested cutoffs" in caplog.text


def test_run_features_writes_as_of_as_local_midnight(
    small_dataset_dir: Path, tmp_path: Path
) -> None:
    """Check that as_of is the asked date's midnight in the dataset's zone."""
    from pipelines.cli import main

    out = tmp_path / "features.csv"
    args = ["--data", str(small_dataset_dir), "--as-of", "2024-01-01"]
    assert main(["features", *args, "--out", str(out)]) == 0

    written = pd.read_csv(out)
    assert len(written) > 0
    assert set(written["as_of"]) == {"2024-01-01 00:00:00+09:00"}


def test_parse_as_of_date_not_a_date_raises_config_error() -> None:
    """Check that the shared date parser names the option and the format."""
    with pytest.raises(ConfigError, match=r"--date 'soon': expected a date YYYY"):
        parse_as_of_date("soon", "Asia/Tokyo", option="--date")


def test_resolve_as_of_after_extract_names_latest_date() -> None:
    """Check that a cutoff after the extract's last complete day names the latest."""
    extract = pd.Timestamp("2024-03-31 14:59:59", tz="UTC")  # end of day in Tokyo
    assert resolve_as_of("2024-04-01", extract, "Asia/Tokyo") == pd.Timestamp(
        "2024-03-31 15:00", tz="UTC"
    )
    with pytest.raises(ConfigError, match=r"supports cutoffs up to 2024-04-01;"):
        resolve_as_of("2024-04-02", extract, "Asia/Tokyo")


@pytest.mark.parametrize(
    ("text", "zone", "message"),
    [
        ("2011-12-30", "Pacific/Apia", "the day 2011-12-30 does not exist in "),
        ("0001-01-01", "Asia/Tokyo", "0001-01-01 is before 1900-01-01"),
    ],
)
def test_parse_as_of_date_day_without_cutoff_names_it(
    text: str, zone: str, message: str
) -> None:
    """Check that --as-of on a day the zone skipped, or before 1900, is refused in
    the user's own terms (the option and the date typed)."""
    with pytest.raises(ConfigError, match=f"--as-of '{text}': {message}"):
        parse_as_of_date(text, zone)


def test_parse_as_of_date_month_first_refused() -> None:
    """Check that --as-of 01/02/2023 is refused, not read as 2 January."""
    with pytest.raises(ConfigError, match="expected a date YYYY-MM-DD"):
        parse_as_of_date("01/02/2023", "Asia/Tokyo")
