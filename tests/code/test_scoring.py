"""Batch scoring: score records, risk bands, rep view, CSV/Parquet/JSON and snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson
import pandas as pd
import pytest

from ghost_model.dataset import latest_cutoff
from ghost_model.errors import ConfigError, ModelNotReadyError
from ghost_model.features.catalogue import FeatureSpec
from ghost_model.scoring import (
    CSV_COLUMNS,
    RiskBands,
    score_partners,
    scores_frame,
    write_scores,
)
from ghost_model.snapshot import read_snapshot, write_snapshot

AS_OF = pd.Timestamp("2024-03-31T15:00:00Z")  # 2024-04-01 00:00 in Tokyo
STAGE_OF = {
    "win_rate_180d": "sellability",
    "inbound_questions_90d": "distance",
    "reps_proposing_90d": "priority",
    "tier": "context",
}


def render(spec: FeatureSpec, row: Mapping[str, Any], lang: str) -> str:
    """The language's template over the row."""
    return (spec.template_ja if lang == "ja" else spec.template_en).format(**row)


def make_catalogue() -> dict[str, FeatureSpec]:
    """A catalogue with English and Japanese templates."""
    return {
        name: FeatureSpec(
            name=name,
            stage=stage,
            level="partner",
            unit="",
            tables=("deals",),
            description=name,
            template_en=f"{name} is {{{name}}}",
            template_ja=f"{name}は{{{name}}}です",
        )
        for name, stage in STAGE_OF.items()
    }


class StandInModel:
    """A fitted LightGBM booster behind the PartnerRiskModel methods."""

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster = booster
        self.feature_names = list(STAGE_OF)
        self.metadata = {"name": "ghost-partner", "version": 4}

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        matrix = frame[self.feature_names].copy()
        matrix["tier"] = matrix["tier"].map({"gold": 0.0, "silver": 1.0})
        return matrix.astype(float)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        raw = self.booster.predict(self.matrix(frame), raw_score=True)
        return 1.0 / (1.0 + np.exp(-np.asarray(raw)))

    def predict_contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = self.booster.predict(self.matrix(frame), pred_contrib=True)
        return pd.DataFrame(values, columns=[*self.feature_names, "bias"])


@dataclass
class Table:
    """Feature rows in the shape of ghost_model.features.FeatureTable."""

    frame: pd.DataFrame
    reps: pd.DataFrame
    stages_without_data: list[str] = field(default_factory=list)


def make_frame(n: int, seed: int, as_of: pd.Timestamp = AS_OF) -> pd.DataFrame:
    """Partner feature rows at one cutoff."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "partner_id": pd.array([f"P{i:03d}" for i in range(n)], dtype="str"),
            "as_of": pd.Series([as_of] * n, dtype="datetime64[us, UTC]"),
            "win_rate_180d": rng.uniform(0, 1, n),
            "inbound_questions_90d": rng.poisson(4, n).astype(float),
            "reps_proposing_90d": rng.integers(0, 5, n).astype(float),
            "tier": pd.array(rng.choice(["gold", "silver"], n), dtype="str"),
        }
    )
    frame.loc[0, "win_rate_180d"] = np.nan
    return frame


def make_reps(as_of: pd.Timestamp = AS_OF) -> pd.DataFrame:
    """Three reps of P000: one active, one quiet, one departed."""
    return pd.DataFrame(
        {
            "partner_id": ["P000", "P000", "P000", "P001"],
            "rep_id": ["R1", "R2", "R3", "R4"],
            "as_of": pd.Series([as_of] * 4, dtype="datetime64[us, UTC]"),
            "deals_180d": [4.0, 0.0, 1.0, 0.0],
            "days_since_last_activity": [12.0, 140.0, 200.0, np.nan],
            "departed": [False, False, True, False],
            "ever_sold": [True, True, True, False],
            "quiet": [False, True, False, False],
        }
    )


@pytest.fixture(scope="module")
def model() -> StandInModel:
    """A small booster where low win rate, few questions and few reps mean silence."""
    frame = make_frame(500, seed=1)
    rng = np.random.default_rng(2)
    logit = (
        2.0
        - 2.0 * frame["win_rate_180d"].fillna(0.5)
        - 0.3 * frame["inbound_questions_90d"]
        - 0.4 * frame["reps_proposing_90d"]
    )
    label = (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(int)
    stand_in = StandInModel(booster=None)  # type: ignore[arg-type]
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 3}
    data = lgb.Dataset(stand_in.matrix(frame), label)
    stand_in.booster = lgb.train(params, data, num_boost_round=30)
    return stand_in


@pytest.fixture(scope="module")
def records(model: StandInModel) -> list[dict[str, Any]]:
    """Japanese score records of 40 partners."""
    table = Table(make_frame(40, seed=5), make_reps())
    return score_partners(
        model,
        table,
        timezone="Asia/Tokyo",
        catalogue=make_catalogue(),
        lang="ja",
        render=render,
    )


def test_score_partners_record_fields(records: list[dict[str, Any]]) -> None:
    """Check that every record carries the agreed fields with JSON-safe values."""
    expected = {
        "partner_id",
        "as_of",
        "probability",
        "risk_band",
        "driving_stage",
        "stage_contributions",
        "reasons",
        "actions",
        "quiet_reps",
        "model_name",
        "model_version",
        "lang",
    }
    for record in records:
        assert expected <= set(record)
        assert record["as_of"] == "2024-04-01"
        assert record["model_version"] == "4"
        assert record["lang"] == "ja"
        assert set(record["stage_contributions"]) == {
            "sellability",
            "distance",
            "priority",
            "context",
        }
        orjson.dumps(record)  # raises on NaN-free violations such as numpy types
    assert "NaN" not in orjson.dumps(records).decode()


def test_score_partners_sorted_by_probability(records: list[dict[str, Any]]) -> None:
    """Check that records come highest risk first."""
    probabilities = [r["probability"] for r in records]
    assert probabilities == sorted(probabilities, reverse=True)
    assert len(records) == 40


def test_score_partners_bands_thresholds(model: StandInModel) -> None:
    """Check that risk bands follow the configured thresholds."""
    bands = RiskBands(high=0.6, medium=0.3)
    records = score_partners(
        model,
        Table(make_frame(60, seed=6), make_reps()),
        timezone="UTC",
        catalogue=make_catalogue(),
        bands=bands,
        render=render,
    )
    for record in records:
        p = record["probability"]
        expected = "high" if p >= 0.6 else "medium" if p >= 0.3 else "low"
        assert record["risk_band"] == expected
    assert {r["risk_band"] for r in records} == {"high", "medium", "low"}


def test_score_partners_actions_follow_stage(records: list[dict[str, Any]]) -> None:
    """Check that the actions are the Japanese ones of the driving stage."""
    from ghost_model.actions import suggest_actions

    for record in records:
        assert record["actions"] == suggest_actions(record["driving_stage"], "ja")


def test_score_partners_missing_value_none(records: list[dict[str, Any]]) -> None:
    """Check that a missing feature value appears as None in the reasons."""
    partner = next(r for r in records if r["partner_id"] == "P000")
    values = {r["feature"]: r["value"] for r in partner["reasons"]}
    if "win_rate_180d" in values:
        assert values["win_rate_180d"] is None


def test_score_partners_quiet_reps(records: list[dict[str, Any]]) -> None:
    """Check that the rep view lists quiet and departed reps of the partner."""
    partner = next(r for r in records if r["partner_id"] == "P000")
    statuses = {rep["rep_id"]: rep["status"] for rep in partner["reps"]}
    assert statuses == {"R1": "active", "R2": "quiet", "R3": "departed"}
    assert [rep["rep_id"] for rep in partner["quiet_reps"]] == ["R3", "R2"]
    other = next(r for r in records if r["partner_id"] == "P001")
    assert other["reps"][0]["status"] == "never_sold"
    assert other["quiet_reps"] == []
    assert next(r for r in records if r["partner_id"] == "P002")["reps"] == []


def test_score_partners_as_of_missing(model: StandInModel) -> None:
    """Check that scoring a cutoff absent from the feature table names it."""
    with pytest.raises(ConfigError, match="no rows at '2023-01-01"):
        score_partners(
            model,
            Table(make_frame(5, seed=7), make_reps()),
            timezone="UTC",
            as_of=pd.Timestamp("2023-01-01", tz="UTC"),
            catalogue=make_catalogue(),
            render=render,
        )


def test_risk_bands_order_invalid() -> None:
    """Check that thresholds out of order are refused."""
    with pytest.raises(ConfigError, match="0 < medium <= high <= 1"):
        RiskBands(high=0.2, medium=0.4)


def test_latest_cutoff_end_of_day() -> None:
    """Check that an extract stamped 23:59:59 local covers that day."""
    extract = pd.Timestamp("2025-03-31T23:59:59+09:00").tz_convert("UTC")
    assert latest_cutoff(extract, "Asia/Tokyo") == pd.Timestamp(
        "2025-04-01T00:00:00+09:00"
    )


def test_latest_cutoff_during_day() -> None:
    """Check that an extract taken mid-day covers only the days before it."""
    extract = pd.Timestamp("2025-03-15T14:00:00+09:00").tz_convert("UTC")
    assert latest_cutoff(extract, "Asia/Tokyo") == pd.Timestamp(
        "2025-03-15T00:00:00+09:00"
    )


def test_write_scores_csv_columns_bom(
    records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Check that the CSV has exactly the agreed columns, a BOM and Japanese text."""
    path = write_scores(records, tmp_path / "scores.csv")

    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype={"model_version": str})
    assert tuple(back.columns) == CSV_COLUMNS
    assert back["partner_id"].tolist() == [r["partner_id"] for r in records]
    first = records[0]
    assert back.loc[0, "reason_1"] == first["reasons"][0]["text"]
    assert "は" in back.loc[0, "reason_1"]
    assert back.loc[0, "contribution_distance"] == pytest.approx(
        first["stage_contributions"]["distance"]
    )


def test_scores_frame_stage_without_data_empty(model: StandInModel) -> None:
    """Check that a stage without data leaves its CSV column empty, not zero."""
    table = Table(make_frame(10, seed=8), make_reps(), ["priority"])
    records = score_partners(
        model, table, timezone="UTC", catalogue=make_catalogue(), render=render
    )
    frame = scores_frame(records)
    assert frame["contribution_priority"].isna().all()
    assert (frame["driving_stage"] != "priority").all()


def test_write_scores_parquet_full_detail(
    records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Check that the Parquet output carries reasons, actions and reps."""
    path = write_scores(records, tmp_path / "scores.parquet")
    back = pd.read_parquet(path)

    assert len(back) == len(records)
    reasons = back.loc[0, "reasons"]
    assert reasons[0]["feature"] == records[0]["reasons"][0]["feature"]
    assert list(back.loc[0, "actions"]) == records[0]["actions"]
    assert set(back.columns) >= {"stage_contributions", "quiet_reps", "reps"}


def test_write_scores_json_roundtrip(
    records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Check that the JSON output reads back to the same records."""
    path = write_scores(records, tmp_path / "out" / "scores.json")
    assert orjson.loads(path.read_bytes()) == orjson.loads(orjson.dumps(records))


def test_write_scores_format_unknown(
    records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Check that an unknown output extension is refused with the known ones."""
    with pytest.raises(ConfigError, match=r"unknown output format '\.xlsx'"):
        write_scores(records, tmp_path / "scores.xlsx")


def test_write_snapshot_roundtrip(
    records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Check that the snapshot returns each record as JSON bytes by lang and id."""
    path = tmp_path / "snapshot.duckdb"
    write_snapshot({"ja": records, "en": records[:3]}, path)
    snapshot = read_snapshot(path)

    assert set(snapshot) == {"ja", "en"}
    assert len(snapshot["ja"]) == len(records)
    assert len(snapshot["en"]) == 3
    first = records[0]
    assert orjson.loads(snapshot["ja"][first["partner_id"]]) == orjson.loads(
        orjson.dumps(first)
    )


def test_write_snapshot_replaces_previous(
    records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Check that writing a snapshot again replaces the old one whole."""
    path = tmp_path / "snapshot.duckdb"
    write_snapshot({"ja": records}, path)
    write_snapshot({"en": records[:2]}, path)

    snapshot = read_snapshot(path)
    assert list(snapshot) == ["en"]
    assert len(snapshot["en"]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.duckdb"]


def test_read_snapshot_missing(tmp_path: Path) -> None:
    """Check that a missing snapshot says how to write one."""
    with pytest.raises(ModelNotReadyError, match="run 'ghost-model score"):
        read_snapshot(tmp_path / "absent.duckdb")


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2099-01-01", "lies after the data: the extract supports cutoffs up to"),
        ("2024-13-45", "expected a date YYYY-MM-DD"),
        ("2024-03-01T10:00", "expected a date YYYY-MM-DD"),
    ],
)
def test_run_score_as_of_invalid(
    small_dataset_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    as_of: str,
    message: str,
) -> None:
    """Check that `ghost-model score` refuses a cutoff the data cannot support."""
    from pipelines.cli import main

    out = tmp_path / "scores.csv"
    status = main(
        ["score", "--data", str(small_dataset_dir), "--as-of", as_of, "--out", str(out)]
    )

    assert status == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
