"""Registry: logging and loading through a real MLflow store, promotion and rollback.

Each test module gets its own SQLite tracking store under a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ghost_model import registry
from ghost_model.errors import ModelNotReadyError
from ghost_model.model import PartnerRiskModel
from ghost_model.settings import Settings
from ghost_model.training import DEFAULT_PARAMS, TrainConfig, fit_model

FEATURES = ["recent_deals", "quiet_days", "reps", "tier"]
CONFIG = TrainConfig(
    num_boost_round=30,
    calibration_cutoffs=1,
    params=DEFAULT_PARAMS | {"num_threads": 1},
)


def feature_frame(
    rows_per_cutoff: int = 300, cutoffs: int = 4, seed: int = 1
) -> pd.DataFrame:
    """A labelled feature frame whose label follows the features."""
    rng = np.random.default_rng(seed)
    frames = []
    for month in range(cutoffs):
        n = rows_per_cutoff
        recent = rng.poisson(3, n).astype(float)
        quiet = rng.exponential(30, n)
        logit = -0.8 * recent + 0.04 * quiet - 0.5
        label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
        frames.append(
            pd.DataFrame(
                {
                    "partner_id": pd.Series([f"P{i}" for i in range(n)], dtype="str"),
                    "as_of": pd.Timestamp("2024-01-01", tz="UTC")
                    + pd.DateOffset(months=month),
                    "recent_deals": recent,
                    "quiet_days": np.where(rng.random(n) < 0.1, np.nan, quiet),
                    "reps": rng.integers(1, 6, n).astype(float),
                    "tier": pd.Series(
                        rng.choice(["gold", "silver", "bronze"], n), dtype="str"
                    ),
                    "label": pd.array(label, dtype="Int8"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("registry")
    return Settings(home=home)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return feature_frame()


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> PartnerRiskModel:
    return fit_model(frame, FEATURES, CONFIG)


def register(
    model: PartnerRiskModel,
    frame: pd.DataFrame,
    settings: Settings,
    pr_auc: float,
    key: str,
) -> registry.RegisteredRun:
    """Log and register ``model`` with a given backtest score and key."""
    return registry.log_training_run(
        model=model,
        example=frame[FEATURES].head(20),
        params={"trees": 30},
        metrics={"model_pr_auc_mean": pr_auc},
        step_metrics=[("model_pr_auc", pr_auc, 1)],
        tags={"kind": "training"},
        tables={"metrics.csv": pd.DataFrame({"pr_auc": [pr_auc]})},
        documents={"summary.json": {"pr_auc": pr_auc}},
        figures={},
        backtest_key=key,
        pr_auc_mean=pr_auc,
        settings=settings,
    )


def test_registry_leaves_process_environment_alone(
    model: PartnerRiskModel, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Check that logging to one store does not redirect later Settings objects."""
    first = Settings(home=tmp_path / "one")
    register(model, frame, first, 0.5, "k")
    second = Settings(home=tmp_path / "two")
    assert second.resolved_tracking_uri().endswith("two/mlflow.db")


def test_load_model_without_champion_raises_not_ready(settings: Settings) -> None:
    """Check that loading before any promotion says what to run."""
    with pytest.raises(
        ModelNotReadyError, match="has no version with alias 'champion'"
    ):
        registry.load_model("champion", settings)


def test_log_training_run_round_trips_identical_probabilities(
    model: PartnerRiskModel, frame: pd.DataFrame, settings: Settings
) -> None:
    """Check that the registered model predicts exactly what the fitted one did."""
    run = register(model, frame, settings, 0.5, "key-a")
    loaded = registry.load_model("candidate", settings)
    assert loaded.metadata["version"] == run.version
    assert loaded.feature_names == FEATURES
    scored = frame.copy()
    scored.loc[scored.index[:25], "reps"] = np.nan
    scored["reps"] = scored["reps"].astype("Int64")
    scored.loc[scored.index[25:30], "tier"] = "platinum"
    np.testing.assert_array_equal(
        loaded.predict_proba(scored), model.predict_proba(scored)
    )
    np.testing.assert_array_equal(
        loaded.predict_contributions(scored).to_numpy(),
        model.predict_contributions(scored).to_numpy(),
    )


def test_log_training_run_pyfunc_has_signature_and_same_output(
    model: PartnerRiskModel, frame: pd.DataFrame, settings: Settings
) -> None:
    """Check that the MLflow pyfunc has a signature and returns the same probability."""
    run = register(model, frame, settings, 0.5, "key-a")
    client = registry.configure_tracking(settings)
    source = client.get_model_version(settings.model_name, run.version).source
    pyfunc = registry.load_pyfunc(client, settings, source)
    inputs = pyfunc.metadata.get_input_schema().input_names()
    assert inputs == FEATURES
    rows = registry.signature_input(model, frame.head(40))
    out = pyfunc.predict(rows)
    np.testing.assert_allclose(out["probability"], model.predict_proba(frame.head(40)))


def test_promote_moves_champion_on_first_better_and_not_on_worse(
    model: PartnerRiskModel, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Check the gate: first and better promoted, worse kept out, then rollback."""
    settings = Settings(home=tmp_path)
    first = register(model, frame, settings, 0.60, "same")
    decision = registry.promote(settings)
    assert (decision.action, decision.champion_after) == ("promoted", first.version)
    assert decision.reason == "first model"

    better = register(model, frame, settings, 0.62, "same")
    decision = registry.promote(settings)
    assert (decision.action, decision.champion_after) == ("promoted", better.version)
    assert decision.champion_pr_auc == pytest.approx(0.60)

    worse = register(model, frame, settings, 0.55, "same")
    decision = registry.promote(settings)
    assert decision.action == "rejected"
    assert decision.champion_after == better.version
    assert "worse than" in decision.reason
    assert (
        registry.load_model("champion", settings).metadata["version"] == better.version
    )
    assert worse.version != better.version

    decision = registry.promote(settings, rollback=True)
    assert (decision.action, decision.champion_after) == ("rolled_back", first.version)
    assert (
        registry.load_model("champion", settings).metadata["version"] == first.version
    )
    with pytest.raises(ModelNotReadyError, match="nothing to roll back to"):
        registry.promote(settings, rollback=True)


def test_promote_equal_score_counts_as_good_enough(
    model: PartnerRiskModel, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Check that a candidate exactly as good as the champion is promoted."""
    settings = Settings(home=tmp_path)
    register(model, frame, settings, 0.6, "same")
    registry.promote(settings)
    tied = register(model, frame, settings, 0.6, "same")
    assert registry.promote(settings).champion_after == tied.version


def test_promote_refuses_comparison_across_different_backtests(
    model: PartnerRiskModel, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Check that scores from different data or folds are not compared."""
    settings = Settings(home=tmp_path)
    register(model, frame, settings, 0.6, "data-1")
    registry.promote(settings)
    register(model, frame, settings, 0.9, "data-2")
    with pytest.raises(ModelNotReadyError, match="other data or folds"):
        registry.promote(settings)


def test_promote_without_candidate_raises_not_ready(tmp_path: Path) -> None:
    """Check that promoting an empty registry says to train first."""
    settings = Settings(home=tmp_path)
    with pytest.raises(ModelNotReadyError, match="ghost-model train"):
        registry.promote(settings)
