"""Registry: logging and loading through a real MLflow store, promotion and rollback.

The module shares one SQLite tracking store in a temporary folder (creating a
store runs MLflow's schema migrations, which is slow); each test that needs a
fresh registry uses its own registered-model name in it.
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


def named(settings: Settings, name: str) -> Settings:
    """The same store, another registered model (and experiment) name."""
    return Settings(home=settings.home, model_name=name)


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


@pytest.fixture(scope="module")
def registered(
    model: PartnerRiskModel, frame: pd.DataFrame, settings: Settings
) -> registry.RegisteredRun:
    return register(model, frame, settings, 0.5, "key-a")


def test_load_model_without_champion_raises_not_ready(settings: Settings) -> None:
    """Check that loading before any promotion says what to run."""
    with pytest.raises(
        ModelNotReadyError, match="has no version with alias 'champion'"
    ):
        registry.load_model("champion", named(settings, "never-promoted"))


def test_registry_leaves_process_environment_alone(
    registered: registry.RegisteredRun, tmp_path: Path
) -> None:
    """Check that logging to one store does not redirect later Settings objects."""
    other = Settings(home=tmp_path / "two")
    assert other.resolved_tracking_uri().endswith("two/mlflow.db")


def test_log_training_run_round_trips_identical_probabilities(
    model: PartnerRiskModel,
    frame: pd.DataFrame,
    settings: Settings,
    registered: registry.RegisteredRun,
) -> None:
    """Check that the registered model predicts exactly what the fitted one did."""
    loaded = registry.load_model("candidate", settings)
    assert loaded.metadata["version"] == registered.version
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
    model: PartnerRiskModel,
    frame: pd.DataFrame,
    settings: Settings,
    registered: registry.RegisteredRun,
) -> None:
    """Check that the MLflow pyfunc has a signature and returns the same probability."""
    client = registry.configure_tracking(settings)
    source = client.get_model_version(settings.model_name, registered.version).source
    pyfunc = registry.load_pyfunc(client, settings, source)
    inputs = pyfunc.metadata.get_input_schema().input_names()
    assert inputs == FEATURES
    rows = registry.signature_input(model, frame.head(40))
    out = pyfunc.predict(rows)
    np.testing.assert_allclose(out["probability"], model.predict_proba(frame.head(40)))


def test_promote_moves_champion_on_first_better_and_not_on_worse(
    model: PartnerRiskModel, frame: pd.DataFrame, settings: Settings
) -> None:
    """Check the gate (first, better, worse, equal) and the rollback chain."""
    settings = named(settings, "gate")
    first = register(model, frame, settings, 0.60, "same")
    decision = registry.promote(settings)
    assert (decision.action, decision.champion_after) == ("promoted", first.version)
    assert decision.reason == "first model"

    better = register(model, frame, settings, 0.62, "same")
    decision = registry.promote(settings)
    assert (decision.action, decision.champion_after) == ("promoted", better.version)
    assert decision.champion_pr_auc == pytest.approx(0.60)

    register(model, frame, settings, 0.55, "same")
    decision = registry.promote(settings)
    assert (decision.action, decision.champion_after) == ("rejected", better.version)
    assert "worse than" in decision.reason
    assert (
        registry.load_model("champion", settings).metadata["version"] == better.version
    )

    tied = register(model, frame, settings, 0.62, "same")
    assert registry.promote(settings).champion_after == tied.version

    decision = registry.promote(settings, rollback=True)
    assert (decision.action, decision.champion_after) == ("rolled_back", better.version)
    decision = registry.promote(settings, rollback=True)
    assert (decision.action, decision.champion_after) == ("rolled_back", first.version)
    assert (
        registry.load_model("champion", settings).metadata["version"] == first.version
    )
    with pytest.raises(ModelNotReadyError, match="nothing to roll back to"):
        registry.promote(settings, rollback=True)


def test_promote_compares_across_backtests_only_through_rerun(
    model: PartnerRiskModel, frame: pd.DataFrame, settings: Settings
) -> None:
    """Check that other data is compared only via the champion re-run on it."""
    settings = named(settings, "rerun")
    register(model, frame, settings, 0.6, "data-1")
    registry.promote(settings)
    candidate = register(model, frame, settings, 0.9, "data-2")
    with pytest.raises(ModelNotReadyError, match="other data or folds"):
        registry.promote(settings)

    recipe = registry.champion_recipe(settings)
    assert recipe is not None
    assert recipe.backtest_key == "data-1"
    assert recipe.config["num_boost_round"] == CONFIG.num_boost_round
    registry.record_champion_rerun(settings, candidate.version, recipe.version, 0.95)
    assert registry.promote(settings).action == "rejected"
    registry.record_champion_rerun(settings, candidate.version, recipe.version, 0.7)
    decision = registry.promote(settings)
    assert (decision.action, decision.champion_pr_auc) == ("promoted", 0.7)


def test_promote_without_candidate_raises_not_ready(settings: Settings) -> None:
    """Check that promoting an empty registry says to train first."""
    settings = named(settings, "empty")
    with pytest.raises(ModelNotReadyError, match="ghost-model train"):
        registry.promote(settings)
