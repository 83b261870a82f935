"""Files the commands write: never over the dataset they read, of the right kind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ghost_model.errors import ConfigError
from ghost_model.loaders import dataset_files
from ghost_model.scoring import spreadsheet_safe
from ghost_model.snapshot import write_snapshot
from pipelines.cli import main
from pipelines.outputs import check_output


@pytest.fixture
def dataset_copy(small_dataset_dir: Path, tmp_path: Path) -> Path:
    """A copy of the small dataset folder that a failing test may damage."""
    return Path(shutil.copytree(small_dataset_dir, tmp_path / "data"))


@pytest.mark.parametrize("name", ["deals.parquet", "partners.parquet"])
def test_features_refuse_out_over_dataset_file(
    dataset_copy: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that --out naming a table of the dataset is refused and the file kept."""
    target = dataset_copy / name
    before = target.read_bytes()

    args = ["--data", str(dataset_copy), "--as-of", "2024-01-01"]
    status = main(["features", *args, "--out", str(target)])

    err = capsys.readouterr().err
    assert status == 2
    assert "is a file of the dataset" in err
    assert target.read_bytes() == before


def test_check_output_refuses_dataset_yaml(dataset_copy: Path) -> None:
    """Check that the dataset's own settings file counts as one of its files."""
    with pytest.raises(ConfigError, match="is a file of the dataset"):
        check_output(dataset_copy / "dataset.yaml", "--out", (".yaml",), dataset_copy)


def test_check_output_refuses_dataset_file_by_another_spelling(
    dataset_copy: Path,
) -> None:
    """Check that a relative or dotted path to a dataset file is recognised."""
    out = dataset_copy / "." / ".." / dataset_copy.name / "deals.parquet"
    with pytest.raises(ConfigError, match="is a file of the dataset"):
        check_output(out, "--out", (".parquet",), dataset_copy)


def test_check_output_allows_new_file_in_dataset_folder(dataset_copy: Path) -> None:
    """Check that a new file beside the tables (not a table) may be written."""
    check_output(dataset_copy / "scores.csv", "--out", (".csv",), dataset_copy)


def test_dataset_files_of_mapped_export_cover_its_tables(tmp_path: Path) -> None:
    """Check that a mapped export's own file names count as dataset files."""
    (tmp_path / "dataset.yaml").write_text(
        "timezone: Asia/Tokyo\nextract_time: '2025-01-01T00:00:00+09:00'\n"
        "mapping: {file: crm.yaml}\n"
    )
    (tmp_path / "crm.yaml").write_text("tables: {}\n")
    (tmp_path / "opportunities.csv").write_text("id\n1\n")
    (tmp_path / "notes.txt").write_text("x")

    names = {p.name for p in dataset_files(tmp_path)}

    assert names == {"dataset.yaml", "crm.yaml", "opportunities.csv"}


@pytest.mark.parametrize(
    ("command", "out", "message"),
    [
        ("score", "scores.txt", "expected a file ending in .csv, .parquet, .json"),
        ("report", "report.pdf", "expected a file ending in .html, .htm"),
    ],
)
def test_wrong_output_kind_refused_before_work(
    dataset_copy: Path,
    tmp_path: Path,
    command: str,
    out: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Check that the output's kind is checked before any model or data is loaded."""
    monkeypatch.setenv("GHOST_HOME", str(tmp_path / "empty-home"))
    status = main([command, "--data", str(dataset_copy), "--out", str(tmp_path / out)])

    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "command", [["report", "--out", "r.html"], ["demo", "--out-dir", "out"]]
)
def test_negative_top_refused(
    command: list[str],
    dataset_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Check that --top below 0 is a usage error, not 'all but the last N'."""
    with pytest.raises(SystemExit) as exit_info:
        main([command[0], "--data", str(dataset_copy), *command[1:], "--top", "-5"])

    assert exit_info.value.code == 2
    assert "expected 0 or more, got -5" in capsys.readouterr().err


def test_unwritable_output_is_one_line_error(
    dataset_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that an output under a plain file names the path, without a traceback."""
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    out = blocker / "features.csv"

    args = ["--data", str(dataset_copy), "--as-of", "2024-01-01"]
    status = main(["features", *args, "--out", str(out)])

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("ghost-model features: error:")
    assert str(blocker) in err
    assert "Traceback" not in err


def test_snapshot_unwritable_raises_os_error_naming_path() -> None:
    """Check that DuckDB refusing to create the file is an OSError naming the path."""
    path = Path("/proc/ghost-model-test/snapshot.duckdb")
    with pytest.raises(OSError, match="ghost-model-test"):
        write_snapshot({"en": []}, path)


def test_features_on_deals_without_rows_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that a header-only deals table gives an error, not a pandas traceback."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset.yaml").write_text(
        "timezone: Asia/Tokyo\nextract_time: '2025-01-01T00:00:00+09:00'\n"
    )
    (data / "deals.csv").write_text("deal_id,partner_id,registered_at\n")

    args = ["--data", str(data), "--cutoffs", "monthly"]
    status = main(["features", *args, "--out", str(tmp_path / "f.parquet")])

    err = capsys.readouterr().err
    assert status == 2
    assert "no cutoff to build features at" in err
    assert "at least one deal (this one has 0)" in err


def test_spreadsheet_safe_quotes_formulas_only() -> None:
    """Check that cells a spreadsheet would run get a quote; others stay as they are."""
    frame = pd.DataFrame(
        {
            "partner_id": ["=HYPERLINK(1)", "P001", "@SUM(1)", "-R1", None],
            "reason_1": ["+cmd", "Portal views: 3", "", "\tx", "ok"],
            "probability": [0.5, -0.25, 0.1, 0.2, 0.3],
        }
    )

    safe = spreadsheet_safe(frame)

    ids = safe["partner_id"].tolist()
    assert ids[:4] == ["'=HYPERLINK(1)", "P001", "'@SUM(1)", "'-R1"]
    assert pd.isna(ids[4])
    assert safe["reason_1"].tolist() == ["'+cmd", "Portal views: 3", "", "'\tx", "ok"]
    assert safe["probability"].tolist() == [0.5, -0.25, 0.1, 0.2, 0.3]
    assert frame["partner_id"].iloc[0] == "=HYPERLINK(1)"


@pytest.mark.parametrize(
    "name",
    [
        "deals.csv",  # the dataset holds deals.parquet: the next load sees two
        "portal_views.CSV",
        "psm_assignments.csv.gz",
        "mapping.yaml",
    ],
)
def test_check_output_refuses_new_dataset_file_name(
    dataset_copy: Path, name: str
) -> None:
    """Check that a file the next load would read is refused even where it does not
    exist yet."""
    suffix = Path(name).suffix.lower()
    with pytest.raises(ConfigError, match="is part of the dataset"):
        check_output(dataset_copy / name, "--out", (suffix,), dataset_copy)


def test_check_output_refuses_simulator_truth(dataset_copy: Path) -> None:
    """Check that the simulator's truth.csv beside the tables is kept."""
    with pytest.raises(ConfigError, match="is a file of the dataset"):
        check_output(dataset_copy / "truth.csv", "--out", (".csv",), dataset_copy)
    (dataset_copy / "truth.csv").unlink()
    with pytest.raises(ConfigError, match="is part of the dataset"):
        check_output(dataset_copy / "truth.csv", "--out", (".csv",), dataset_copy)


def test_check_output_refuses_hard_link_to_dataset_file(
    dataset_copy: Path, tmp_path: Path
) -> None:
    """Check that a hard link to a table, outside the folder, is one of its files."""
    link = tmp_path / "elsewhere.parquet"
    link.hardlink_to(dataset_copy / "deals.parquet")
    with pytest.raises(ConfigError, match="is a file of the dataset"):
        check_output(link, "--out", (".parquet",), dataset_copy)
