"""``ghost-model train --data DIR [--promote]``: backtest, fit, log, register.

The job reads the dataset, builds the point-in-time feature table, runs the
rolling-origin backtest of the model against the baselines, fits the final model,
explains the latest cutoff by stage, logs everything to one MLflow run, registers
the model with the alias ``candidate`` and, with ``--promote``, applies the
promotion gate. Each phase is timed (see ``benchmarks/bench_train.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ghost_model.backtest import BacktestResult
    from ghost_model.dataset import Dataset
    from ghost_model.model import PartnerRiskModel
    from ghost_model.registry import PromotionDecision, RegisteredRun
    from ghost_model.settings import Settings
    from ghost_model.training import TrainConfig

log = logging.getLogger(__name__)

TRUTH_FILE = "truth.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ghost-model train``."""
    parser.add_argument(
        "--data", required=True, type=Path, help="dataset folder or .duckdb"
    )
    parser.add_argument(
        "--promote",
        action="store_true",
        help="move the champion alias when the new model is at least as good",
    )
    parser.add_argument(
        "--folds", type=int, default=6, help="backtest folds (default 6)"
    )
    parser.add_argument(
        "--horizon-days",
        type=int,
        default=90,
        help="label horizon in days (default 90)",
    )
    parser.add_argument(
        "--trees", type=int, default=None, help="number of boosting rounds"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="LightGBM threads (default 2; use 1 on a machine busy with other work)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the training job; 0 on success."""
    from ghost_model.settings import Settings
    from ghost_model.training import TrainConfig

    overrides: dict[str, Any] = {"folds": args.folds, "horizon_days": args.horizon_days}
    if args.trees is not None:
        overrides["num_boost_round"] = args.trees
    if args.threads is not None:
        overrides["params"] = TrainConfig().params | {"num_threads": args.threads}
    outcome = train(
        args.data, TrainConfig(**overrides), Settings(), promote=args.promote
    )
    print(outcome.describe())
    return 0


@dataclass
class TrainOutcome:
    """What a training job produced and how long each phase took."""

    model: PartnerRiskModel
    backtest: BacktestResult
    run: RegisteredRun
    decision: PromotionDecision | None
    seconds: dict[str, float] = field(default_factory=dict)
    separation: dict[str, float] | None = None

    def describe(self) -> str:
        """A short plain-text summary for the terminal."""
        means = self.backtest.mean_metrics()
        lines = [
            f"registered {self.run.model_uri} as version {self.run.version} "
            f"(run {self.run.run_id})",
            "backtest mean over "
            f"{len(self.backtest.folds)} folds: method, PR-AUC, ROC-AUC, lift@10%",
        ]
        for method, row in means.iterrows():
            lines.append(
                f"  {method:<22} {row['pr_auc']:.3f}  {row['roc_auc']:.3f}  "
                f"{row['lift_at_10']:.2f}"
            )
        lead = self.backtest.lead_time
        lines.append(
            "lead time vs 'no deal for 90 days': "
            f"median {lead['median_days']:.0f} days "
            f"(quartiles {lead['q1_days']:.0f}-{lead['q3_days']:.0f}) over "
            f"{lead['flagged_earlier_or_same']} of {lead['partners']} silent partners"
        )
        if self.decision is not None:
            lines.append(f"promotion: {self.decision.action} — {self.decision.reason}")
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        lines.append(f"time: {timing}")
        return "\n".join(lines)


def train(
    data: Path,
    config: TrainConfig,
    settings: Settings,
    *,
    promote: bool = False,
) -> TrainOutcome:
    """Run every phase of training on the dataset at ``data``.

    Parameters
    ----------
    data
        Dataset folder (or DuckDB file); a ``truth.csv`` beside it (simulated data)
        adds the decline-versus-alive separation check.
    config
        Fit and backtest settings.
    settings
        Tracking store and model name.
    promote
        Apply the promotion gate after registering.

    Returns
    -------
    TrainOutcome
        The model, the backtest, the registered run, the decision, the timings.
    """
    from ghost_model.backtest import run_backtest
    from ghost_model.loaders import load_dataset
    from ghost_model.registry import promote as promote_model
    from ghost_model.training import fit_model

    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    dataset = load_dataset(data)
    seconds["load"] = _lap(clock)

    clock = time.perf_counter()
    table, feature_names, stages, stages_missing = build_features(dataset, config)
    seconds["features"] = _lap(clock)
    log.info(
        "feature table: %d rows, %d features, %d cutoffs in %.1f s",
        len(table),
        len(feature_names),
        table["as_of"].nunique(),
        seconds["features"],
    )

    clock = time.perf_counter()
    deals = dataset.table("deals")
    backtest = run_backtest(table, feature_names, deals, dataset.timezone, config)
    seconds["backtest"] = _lap(clock)

    clock = time.perf_counter()
    key = backtest_key(dataset, backtest)
    model = fit_model(
        table,
        feature_names,
        config,
        metadata={
            "name": settings.model_name,
            "dataset": dataset.config.name,
            "extract_time": dataset.extract_time.isoformat(),
            "backtest_key": key,
            "backtest": {
                **backtest.summary(),
                "fold_days": fold_days(backtest, dataset.timezone),
            },
            "stages": stages,
            "stages_without_data": stages_missing,
        },
    )
    seconds["final_fit"] = _lap(clock)

    clock = time.perf_counter()
    latest = table[table["as_of"] == table["as_of"].max()]
    contributions = model.predict_contributions(latest)
    seconds["explanations"] = _lap(clock)

    separation, separation_scores = None, None
    truth_path = Path(data) / TRUTH_FILE
    if Path(data).is_dir() and truth_path.is_file():
        separation, separation_scores = decline_separation(
            backtest.predictions, truth_path
        )

    clock = time.perf_counter()
    run = log_run(
        dataset=dataset,
        table=table,
        model=model,
        backtest=backtest,
        contributions=contributions,
        stages=stages,
        separation=separation,
        separation_scores=separation_scores,
        config=config,
        key=key,
        settings=settings,
    )
    seconds["logging"] = _lap(clock)

    clock = time.perf_counter()
    rerun_champion(table, feature_names, backtest, key, run.version, settings)
    seconds["champion_rerun"] = _lap(clock)

    decision = promote_model(settings) if promote else None
    seconds["total"] = sum(seconds.values())
    return TrainOutcome(model, backtest, run, decision, seconds, separation)


def rerun_champion(
    table: pd.DataFrame,
    feature_names: list[str],
    backtest: BacktestResult,
    key: str,
    candidate_version: str,
    settings: Settings,
) -> float | None:
    """Backtest the champion's recipe on this run's folds when its data differ.

    The promotion gate compares candidate and champion on the same backtest; a
    champion trained on other data is re-fitted with its own settings and
    features on exactly this run's folds, and its PR-AUC is tagged on the
    candidate. Returns that mean PR-AUC, or None when no re-run was needed.
    """
    import numpy as np

    from ghost_model.backtest import model_pr_auc
    from ghost_model.registry import champion_recipe, record_champion_rerun
    from ghost_model.training import TrainConfig

    recipe = champion_recipe(settings)
    if recipe is None or recipe.backtest_key == key:
        return None
    features = [f for f in recipe.feature_names if f in table.columns]
    if len(features) < len(recipe.feature_names):
        log.warning(
            "champion v%s used %d features this dataset lacks; backtesting it on "
            "the %d it has",
            recipe.version,
            len(recipe.feature_names) - len(features),
            len(features),
        )
    config = TrainConfig.from_dict(recipe.config) if recipe.config else TrainConfig()
    scores = model_pr_auc(table, features or feature_names, backtest.folds, config)
    mean = float(np.mean(scores))
    record_champion_rerun(settings, candidate_version, recipe.version, mean)
    log.info(
        "champion v%s recipe on this backtest: PR-AUC %s (mean %.4f)",
        recipe.version,
        ", ".join(f"{v:.3f}" for v in scores),
        mean,
    )
    return mean


def build_features(
    dataset: Dataset, config: TrainConfig
) -> tuple[pd.DataFrame, list[str], dict[str, str], list[str]]:
    """The feature table, its feature names, each feature's stage, empty stages."""
    from ghost_model.features import (
        FeatureConfig,
        build_feature_table,
        load_catalogue,
        monthly_cutoffs,
    )

    feature_config = FeatureConfig(horizon_days=config.horizon_days)
    cutoffs = monthly_cutoffs(dataset, feature_config)
    built = build_feature_table(dataset, cutoffs, feature_config)
    catalogue = load_catalogue()
    stages = {
        name: catalogue[name].stage if name in catalogue else "context"
        for name in built.feature_names
    }
    return (
        built.frame,
        list(built.feature_names),
        stages,
        list(built.stages_without_data),
    )


def fold_days(backtest: BacktestResult, timezone: str) -> list[str]:
    """The folds' test cutoffs as days in the dataset's zone (``YYYY-MM-DD``).

    The summary's ``folds`` are UTC instants: midnight of 2024-11-01 in Tokyo reads
    2024-10-31 15:00 there, so the model's metadata names the days as well, as the
    docs and the report do.
    """
    return [
        fold.test_cutoff.tz_convert(timezone).date().isoformat()
        for fold in backtest.folds
    ]


def backtest_key(dataset: Dataset, backtest: BacktestResult) -> str:
    """Identity of a backtest: dataset, folds and the exact test rows and labels."""
    rows = backtest.predictions[["partner_id", "as_of", "label"]].sort_values(
        ["as_of", "partner_id"]
    )
    digest = hashlib.sha256()
    digest.update(f"{dataset.config.name}|{dataset.extract_time.isoformat()}".encode())
    digest.update(rows.to_csv(index=False).encode())
    return digest.hexdigest()[:16]


def decline_separation(
    predictions: pd.DataFrame, truth_path: Path
) -> tuple[dict[str, float], pd.DataFrame]:
    """How well each method separates partners in decline from alive ones.

    A backtest row is ``decline`` when its partner's simulated decline episode has
    started by the cutoff, ``alive`` when the partner never declines and is not
    terminated; other rows are left out. ``<method>_auc`` is the ROC-AUC of the
    method's score on decline against alive rows; ``<method>_auc_before_silence``
    keeps only the decline rows before the partner went silent (the early part).
    """
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from ghost_model.backtest import METHODS

    truth = pd.read_csv(truth_path, dtype={"partner_id": "str"})
    info = pd.DataFrame(
        {
            "decline_start": _instants(truth["decline_start"]),
            "silent_from": _instants(truth["silent_from"]),
            "terminated": _instants(truth["terminated_at"]).notna().to_numpy(),
        }
    ).set_axis(truth["partner_id"].to_numpy())
    rows = predictions.join(info, on="partner_id")
    declining = rows["decline_start"].notna() & (rows["decline_start"] <= rows["as_of"])
    alive = rows["decline_start"].isna() & ~rows["terminated"].astype(bool)
    early = declining & ~(rows["silent_from"] <= rows["as_of"])
    scores: dict[str, float] = {
        "decline_rows": float(declining.sum()),
        "decline_rows_before_silence": float(early.sum()),
        "alive_rows": float(alive.sum()),
    }
    for suffix, positive in (("auc", declining), ("auc_before_silence", early)):
        chosen = rows[positive | alive]
        target = positive[positive | alive].astype(int).to_numpy()
        if 0 < target.sum() < len(target):
            for method in METHODS:
                auc = roc_auc_score(target, chosen[f"{method}_score"])
                scores[f"{method}_{suffix}"] = float(auc)
    log.info(
        "decline vs alive separation (ROC-AUC, all decline rows / before silence): %s",
        ", ".join(
            f"{m} {scores.get(f'{m}_auc', np.nan):.3f}"
            f" / {scores.get(f'{m}_auc_before_silence', np.nan):.3f}"
            for m in METHODS
        ),
    )
    group = np.where(declining, "decline", np.where(alive, "alive", ""))
    plot = pd.DataFrame({"group": group, "probability": rows["model_proba"]})
    return scores, plot[plot["group"] != ""]


def _instants(column: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_datetime(column, utc=True, format="ISO8601")


def log_run(
    *,
    dataset: Dataset,
    table: pd.DataFrame,
    model: PartnerRiskModel,
    backtest: BacktestResult,
    contributions: pd.DataFrame,
    stages: dict[str, str],
    separation: dict[str, float] | None,
    separation_scores: pd.DataFrame | None,
    config: TrainConfig,
    key: str,
    settings: Settings,
) -> RegisteredRun:
    """Assemble params, metrics, tables and plots and log them with the model."""
    import pandas as pd

    from ghost_model import plots
    from ghost_model.backtest import METHODS
    from ghost_model.features import load_catalogue
    from ghost_model.registry import log_training_run

    derived = model.derived_catalogue()
    stages = stages | {name: spec.stage for name, spec in derived.items()}
    summary = data_summary(dataset, table)
    per_cutoff = base_rates(table)
    params = config.to_params() | {
        "dataset": dataset.config.name,
        "extract_time": dataset.extract_time.isoformat(),
        "timezone": dataset.timezone,
        "feature_rows": len(table),
        "labelled_rows": int(table["label"].notna().sum()),
        "features": len(model.feature_names),
        "backtest_test_cutoffs": ",".join(
            str(f.test_cutoff.date()) for f in backtest.folds
        ),
    }
    means = backtest.mean_metrics()
    metrics = {
        f"{method}_{metric}_mean": float(value)
        for method, row in means.iterrows()
        for metric, value in row.items()
    }
    metrics |= {f"lead_time_{k}": float(v) for k, v in backtest.lead_time.items()}
    if separation:
        metrics |= {f"separation_{k}": v for k, v in separation.items()}
    step_metrics = [
        (f"{row['method']}_{metric}", float(row[metric]), int(row["fold"]))
        for _, row in backtest.metrics.iterrows()
        for metric in backtest.metrics.columns
        if metric not in ("fold", "test_cutoff", "method")
    ]
    catalogue = load_catalogue() | derived
    catalogue_rows = pd.DataFrame(
        [
            {
                "name": spec.name,
                "stage": spec.stage,
                "level": spec.level,
                "unit": spec.unit,
                "tables": ",".join(spec.tables),
                "description": spec.description,
                "in_model": spec.name in model.booster_names,
            }
            for spec in catalogue.values()
        ]
    )
    stage_sums = plots.stage_contributions(contributions, stages)
    figures = {
        "calibration.png": plots.calibration_figure(
            backtest.predictions, ("model", "logistic", "bgnbd")
        ),
        "precision_lift_by_depth.png": plots.depth_figure(
            backtest.predictions, METHODS
        ),
        "feature_importance.png": plots.importance_figure(
            model.feature_importance(), stages
        ),
        "shap_by_stage.png": plots.stage_shap_figure(contributions, stages),
    }
    if separation_scores is not None:
        figures["decline_vs_alive.png"] = plots.separation_figure(separation_scores)
    tables = {
        "metrics_per_fold.csv": backtest.metrics,
        "metrics_mean.csv": means.reset_index(),
        "base_rate_per_cutoff.csv": per_cutoff,
        "predictions.csv": backtest.predictions,
        "feature_catalogue.csv": catalogue_rows,
        "stage_contributions_latest.csv": stage_sums.describe().reset_index(),
        "feature_importance.csv": model.feature_importance()
        .rename("gain")
        .reset_index(),
    }
    documents = {
        "data_summary.json": summary,
        "lead_time.json": backtest.lead_time,
        "feature_catalogue.json": catalogue_rows.to_dict(orient="records"),
    }
    if separation:
        documents["decline_separation.json"] = separation
    tags = {"dataset": dataset.config.name, "kind": "training"}
    return log_training_run(
        model=model,
        example=table[model.feature_names].head(50),
        params=params,
        metrics=metrics,
        step_metrics=step_metrics,
        tags=tags,
        tables=tables,
        documents=documents,
        figures=figures,
        backtest_key=key,
        pr_auc_mean=float(means["pr_auc"]["model"]),
        settings=settings,
        run_name=f"train-{dataset.config.name}",
    )


def data_summary(dataset: Dataset, table: pd.DataFrame) -> dict[str, Any]:
    """Dataset name, extract time, table rows, feature rows and base rates."""
    return {
        "dataset": dataset.config.name,
        "source": dataset.source,
        "extract_time": dataset.extract_time.isoformat(),
        "timezone": dataset.timezone,
        "table_rows": {name: len(frame) for name, frame in dataset.tables.items()},
        "feature_rows": len(table),
        "labelled_rows": int(table["label"].notna().sum()),
        "cutoffs": int(table["as_of"].nunique()),
        "base_rate": float(table["label"].astype("float64").mean()),
    }


def base_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Partners, labelled rows and the share silent per cutoff."""
    label = table["label"].astype("float64")
    grouped = table.assign(label_value=label).groupby("as_of")
    out = grouped.agg(
        partners=("partner_id", "size"),
        labelled=("label_value", "count"),
        base_rate=("label_value", "mean"),
    )
    return out.reset_index()


def _lap(started: float) -> float:
    return time.perf_counter() - started
