"""The whole job on the committed sample of real invoices, from mapping to report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ghost_model.features import load_catalogue
from pipelines.real_demo import (
    DEAL_COUNT_RULE,
    MAPPINGS,
    JobOptions,
    JobResult,
    main,
    run_job,
    write_results_page,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "sample" / "online-retail-ii"


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> JobResult:
    """One small run of the whole job on the sample (two folds, few trees)."""
    out_dir = tmp_path_factory.mktemp("real") / "online-retail-ii"
    options = JobOptions(folds=2, trees=40, langs=("en",), log_to_mlflow=False)
    return run_job(MAPPINGS / "online-retail-ii.yaml", SAMPLE, out_dir, options)


def test_run_job_sample_validates_every_mapped_row(sample_run: JobResult) -> None:
    """Check that every deal the mapping built passes validation."""
    mapped = sample_run.mapped_counts["deals"]["mapped"]

    assert mapped > 1000
    assert sample_run.row_counts["deals"]["accepted"] == mapped
    assert sample_run.row_counts["deals"]["quarantined"] == 0


def test_run_job_sample_stages_without_data_are_named(sample_run: JobResult) -> None:
    """Check that distance (no tables) and sellability (no outcomes) have no data."""
    catalogue = load_catalogue()
    used_stages = {catalogue[name].stage for name in sample_run.features}

    assert "distance" in sample_run.table.stages_without_data
    assert set(sample_run.stages_without_data) == {"sellability", "distance"}
    assert used_stages.isdisjoint({"sellability", "distance"})
    assert "deals_180d" in sample_run.features


def test_run_job_sample_backtests_model_and_baselines(sample_run: JobResult) -> None:
    """Check that each fold scores the model and every baseline, metrics in range."""
    metrics = sample_run.fold_metrics
    assert metrics is not None
    methods = {"model", "days_since_last_deal", DEAL_COUNT_RULE, "bgnbd", "logistic"}

    assert methods <= set(metrics["method"])
    assert metrics.groupby("method")["fold"].nunique().eq(2).all()
    assert metrics["roc_auc"].between(0, 1).all()
    assert metrics["lift_at_20"].gt(0).all()


def test_run_job_sample_scores_every_partner_once(sample_run: JobResult) -> None:
    """Check that each partner of the scoring cutoff has one probability in [0, 1]."""
    records = sample_run.records["en"]
    frame = sample_run.table.frame
    expected = set(frame.loc[frame["as_of"] == sample_run.as_of, "partner_id"])
    ids = [r["partner_id"] for r in records]

    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    assert all(0.0 <= r["probability"] <= 1.0 for r in records)
    assert {r["driving_stage"] for r in records} <= {None, "priority", "context"}


def test_run_job_sample_writes_scores_report_and_figures(
    sample_run: JobResult,
) -> None:
    """Check that the scores, the HTML report and the figures are written."""
    out = sample_run.out_dir
    scores = pd.read_csv(out / "scores_en.csv", dtype={"partner_id": str})
    report = (out / "report_en.html").read_text(encoding="utf-8")

    assert len(scores) == len(sample_run.records["en"])
    assert sample_run.records["en"][0]["partner_id"] in report
    assert set(sample_run.figures) == {"calibration", "depth", "stages", "importance"}
    assert all(path.stat().st_size > 0 for path in sample_run.figures.values())
    assert (out / "data" / "dataset.yaml").is_file()


def test_write_results_page_sample_cites_and_links(
    sample_run: JobResult, tmp_path: Path
) -> None:
    """Check that the results page cites the source and its images exist."""
    page = write_results_page([sample_run], tmp_path / "docs")
    text = page.read_text(encoding="utf-8")

    assert "10.24432/C5CG6D" in text
    assert "commercial use is unclear" in text
    assert "What this data cannot show" in text
    assert (
        tmp_path / "docs" / "img" / "real-online-retail-ii-calibration.png"
    ).is_file()


def test_main_without_data_skips_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that a missing data root skips every dataset, says so and exits 1."""
    status = main(
        ["--data-root", str(tmp_path / "none"), "--out-dir", str(tmp_path / "out")]
    )

    err = capsys.readouterr().err
    assert status == 1
    assert "skipping online-retail-ii" in err
    assert "online-retail-ii.yaml reads go there" in err
    assert "nothing ran" in err
    assert not (tmp_path / "out").exists()
