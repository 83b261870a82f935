"""``make real-demo``: the whole job on public real data, and its results page.

For every known dataset found under the data root (default ``../shared/data``) the
job reads the export through its column mapping (``examples/mappings/<name>.yaml``),
validates it (rows that break the contract are quarantined with a reason), builds the
point-in-time features, runs the rolling-origin backtest against the baselines, fits
the final model, logs and registers it in an MLflow store of its own, scores the
partners at the latest cutoff and writes the HTML report in English and Japanese.
Everything goes to ``GHOST_HOME/real/<dataset>/`` (default ``var/real``), and the
results page ``docs/real-data.md`` with its figures in ``docs/img/`` is rewritten.

A dataset that is absent is skipped with a message; a dataset in which no partner
ever goes silent is validated and featurised but not trained on (nothing to learn).

Stages are reported honestly: a stage whose tables are absent has no data, and so
does ``sellability`` when no deal has an outcome (order data holds no proposals, so
win rates and stalled proposals cannot be observed); features of such stages, and
features that are constant or empty on the labelled rows, are left out of the model
and listed on the results page.

``GHOST_HOME/real/<dataset>/data/dataset.yaml`` points at the mapping and the export,
so the usual commands work on the real data too, e.g.
``GHOST_HOME=var/real/online-retail-ii ghost-model score --data
var/real/online-retail-ii/data --out scores.csv``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import pandas as pd

    from ghost_model.backtest import BacktestResult
    from ghost_model.dataset import Dataset
    from ghost_model.features import FeatureTable
    from ghost_model.model import PartnerRiskModel
    from ghost_model.training import TrainConfig

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "examples" / "mappings"
DEFAULT_DATA_ROOT = ROOT.parent / "shared" / "data"
DOCS_PAGE = "real-data.md"
LANGS = ("en", "ja")
DEAL_COUNT_RULE = "deal_count_180d"
PAGE_METHODS = (
    "model",
    "days_since_last_deal",
    DEAL_COUNT_RULE,
    "deal_trend",
    "bgnbd",
    "logistic",
)
METHOD_NAMES = {
    "model": "model (LightGBM blended with a logistic regression)",
    "days_since_last_deal": "days since last deal",
    DEAL_COUNT_RULE: "deals in last 180 days",
    "deal_trend": "deal trend (90 d vs 90 d before)",
    "bgnbd": "BG/NBD",
    "logistic": "logistic regression",
}
PAGE_METRICS = {
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "precision_at_20": "precision, top 20%",
    "lift_at_20": "lift, top 20%",
}


@dataclass(frozen=True)
class RealDataset:
    """A public dataset the real demo knows how to map."""

    name: str
    title: str
    real: bool
    citation: str
    licence: str

    @property
    def mapping(self) -> Path:
        """The example mapping that reads this dataset."""
        return MAPPINGS / f"{self.name}.yaml"


DATASETS: tuple[RealDataset, ...] = (
    RealDataset(
        name="online-retail-ii",
        title="Online Retail II: a UK gift-ware wholesaler's customers",
        real=True,
        citation=(
            "Online Retail II, UCI Machine Learning Repository, dataset 502, "
            "DOI [10.24432/C5CG6D](https://doi.org/10.24432/C5CG6D); donor Dr Daqing "
            "Chen, London South Bank University. Online Retail, UCI dataset 352: "
            "Chen, D. (2015), DOI [10.24432/C5BW33](https://doi.org/10.24432/C5BW33). "
            'Chen, D., Sain, S.L., Guo, K. (2012), "Data mining for the online '
            "retail industry: a case study of RFM model-based customer segmentation "
            'using data mining", Journal of Database Marketing and Customer Strategy '
            "Management 19(3), 197-208."
        ),
        licence=(
            "CC BY 4.0 according to UCI (attribution required). The CRAN package "
            "`onlineretail2` states that the donor allows non-commercial use only, so "
            "**commercial use is unclear**: use it for testing and internal research, "
            "and check the terms before any other use."
        ),
    ),
    RealDataset(
        name="crm-sales-opportunities",
        title="CRM Sales Opportunities: a fictitious B2B pipeline",
        real=False,
        citation=(
            "CRM Sales Opportunities, Maven Analytics Data Playground (sample data of "
            "a fictitious computer-hardware vendor, Oct 2016 - Dec 2017)."
        ),
        licence=(
            "Reported as public domain by Maven Analytics (not verified at the source)."
        ),
    ),
)


@dataclass(frozen=True)
class JobOptions:
    """How much of the job to run, and how big the model is."""

    folds: int = 6
    trees: int | None = None
    top: int | None = 200
    langs: tuple[str, ...] = LANGS
    log_to_mlflow: bool = True


@dataclass
class JobResult:
    """What one dataset's run produced, for the results page and the tests."""

    name: str
    out_dir: Path
    mapped_counts: dict[str, dict[str, int]]
    row_counts: dict[str, dict[str, int]]
    quarantine_reasons: dict[str, int]
    dataset: Dataset
    table: FeatureTable
    as_of: pd.Timestamp
    stages_without_data: list[str]
    stage_notes: dict[str, str]
    features: list[str]
    dropped_features: dict[str, str]
    trained: bool
    skip_reason: str = ""
    backtest: BacktestResult | None = None
    fold_metrics: pd.DataFrame | None = None
    model: PartnerRiskModel | None = None
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    stage_contributions: pd.Series | None = None
    importance: pd.Series | None = None
    figures: dict[str, Path] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    load_average: float = 0.0
    registered: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of the real-data demo."""
    parser.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA_ROOT,
        help="folder holding the public datasets (default: ../shared/data)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="output folder; default: GHOST_HOME/real (var/real)",
    )
    parser.add_argument(
        "--docs", type=Path, default=ROOT / "docs", help="where the results page goes"
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="do not rewrite the results page"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[d.name for d in DATASETS],
        help="run only this dataset (repeatable)",
    )
    parser.add_argument("--folds", type=int, default=6, help="backtest folds")
    parser.add_argument("--trees", type=int, default=None, help="boosting rounds")
    parser.add_argument(
        "--no-mlflow", action="store_true", help="do not log or register the models"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log step detail")


def run(args: argparse.Namespace) -> int:
    """Run the job on every dataset present; write the results page.

    Returns 0 on success, 1 when none of the datasets was found (nothing ran).
    """
    from ghost_model.settings import Settings

    out_root = args.out_dir or Settings().home / "real"
    options = JobOptions(
        folds=args.folds, trees=args.trees, log_to_mlflow=not args.no_mlflow
    )
    chosen = [d for d in DATASETS if not args.only or d.name in args.only]
    results: list[JobResult] = []
    for spec in chosen:
        folder = args.data_root / spec.name
        if not folder.is_dir():
            print(
                f"real-demo: skipping {spec.name}: {folder} not found (the files "
                f"{spec.mapping} reads go there; see docs/real-data.md)",
                file=sys.stderr,
            )
            continue
        result = run_job(spec.mapping, folder, out_root / spec.name, options)
        results.append(result)
        for path in result.paths:
            print(path)
    if not results:
        print(
            f"real-demo: no known dataset under {args.data_root}; nothing ran",
            file=sys.stderr,
        )
        return 1
    if not args.no_docs:
        print(write_results_page(results, args.docs))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pipelines.real_demo``."""
    from ghost_model.errors import GhostModelError
    from pipelines.cli import configure_logging

    parser = argparse.ArgumentParser(
        prog="python -m pipelines.real_demo",
        description="Run the whole job on the public real data and write the results.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return run(args)
    except GhostModelError as exc:
        print(f"real-demo: error: {exc}", file=sys.stderr)
        return 2


# One dataset, end to end


def run_job(
    mapping: Path, data_dir: Path, out_dir: Path, options: JobOptions | None = None
) -> JobResult:
    """Map, validate, featurise, backtest, train, score and report one export.

    Parameters
    ----------
    mapping
        The column-mapping YAML of the export.
    data_dir
        Folder of the export's files.
    out_dir
        Where the dataset pointer, quarantine, figures, scores and reports go.
    options
        Folds, trees, languages, MLflow logging.

    Returns
    -------
    JobResult
        Counts, the feature table, the backtest and the paths written.
    """
    options = options or JobOptions()
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    clock = time.perf_counter()
    dataset, mapped, reasons = validate_export(mapping, data_dir, out_dir)
    seconds["map + validate"] = time.perf_counter() - clock

    clock = time.perf_counter()
    table, as_of = build_features(dataset)
    missing, notes = stages_without_data(dataset, table)
    features, dropped = usable_features(table, missing)
    seconds["features"] = time.perf_counter() - clock

    result = JobResult(
        name=dataset.config.name,
        out_dir=out_dir,
        mapped_counts=mapped,
        row_counts=dataset.row_counts,
        quarantine_reasons=reasons,
        dataset=dataset,
        table=table,
        as_of=as_of,
        stages_without_data=missing,
        stage_notes=notes,
        features=features,
        dropped_features=dropped,
        trained=False,
        seconds=seconds,
    )
    result.skip_reason = training_obstacle(table)
    if result.skip_reason:
        log.warning("%s: not training: %s", result.name, result.skip_reason)
        result.paths.append(write_feature_summary(result))
    else:
        train_and_report(result, options)
    result.seconds["total"] = sum(result.seconds.values())
    result.peak_rss_mb = peak_rss_mb()
    result.load_average = os.getloadavg()[1]
    log.info(
        "real demo %s done in %.1f s, peak memory %.0f MB",
        result.name,
        result.seconds["total"],
        result.peak_rss_mb,
    )
    return result


def validate_export(
    mapping: Path, data_dir: Path, out_dir: Path
) -> tuple[Dataset, dict[str, dict[str, int]], dict[str, int]]:
    """Write the dataset pointer, map the export and validate it with quarantine."""
    from ghost_model.loaders import validate_tables
    from ghost_model.mapping import map_tables, read_mapping

    pointer = write_dataset_pointer(mapping, data_dir, out_dir / "data")
    config, body, folder = read_mapping(pointer)
    mapped = map_tables(body, config, data_dir=folder, mapping_file=mapping.name)
    quarantine_dir = out_dir / "quarantine"
    shutil.rmtree(quarantine_dir, ignore_errors=True)
    dataset = validate_tables(
        mapped.tables,
        config,
        sources=mapped.sources,
        quarantine=True,
        quarantine_dir=quarantine_dir,
    )
    dataset.source = str(pointer.parent)
    return dataset, mapped.row_counts, quarantine_reasons(quarantine_dir)


def write_dataset_pointer(mapping: Path, data_dir: Path, folder: Path) -> Path:
    """A ``dataset.yaml`` naming the mapping and the export, for the usual commands."""
    settings = yaml.safe_load(mapping.read_text(encoding="utf-8"))
    pointer = {
        "name": settings["name"],
        "timezone": settings["timezone"],
        "extract_time": str(settings["extract_time"]),
        "mapping": {
            "file": str(mapping.resolve()),
            "data_dir": str(data_dir.resolve()),
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dataset.yaml"
    header = (
        "# Written by pipelines/real_demo.py: the export read through its mapping.\n"
    )
    path.write_text(header + yaml.safe_dump(pointer, sort_keys=False), "utf-8")
    return path


def quarantine_reasons(folder: Path) -> dict[str, int]:
    """Count of quarantined rows per table and reason."""
    import pandas as pd

    counts: dict[str, int] = {}
    for path in sorted(folder.glob("*.csv")):
        reasons = pd.read_csv(path, usecols=["reason"], dtype=str)["reason"]
        for reason, n in reasons.value_counts().items():
            counts[f"{path.stem}: {reason}"] = int(n)
    return counts


def build_features(dataset: Dataset) -> tuple[FeatureTable, pd.Timestamp]:
    """Monthly cutoffs plus the latest cutoff the data supports, and the table."""
    from ghost_model.dataset import latest_cutoff
    from ghost_model.features import FeatureConfig, build_feature_table, monthly_cutoffs

    config = FeatureConfig()
    as_of = latest_cutoff(dataset.extract_time, dataset.timezone)
    cutoffs = sorted({*monthly_cutoffs(dataset, config), as_of})
    return build_feature_table(dataset, cutoffs, config), as_of


def stages_without_data(
    dataset: Dataset, table: FeatureTable
) -> tuple[list[str], dict[str, str]]:
    """Stages the data cannot inform, each with the reason.

    A stage whose tables are all absent has no data; ``sellability`` has none either
    when no deal carries an outcome, since win rates, stalled proposals and
    proposals since the last win then describe nothing that happened.
    """
    from ghost_model.contract import STAGE_TABLES

    notes = {
        stage: "none of the tables " + ", ".join(STAGE_TABLES[stage]) + " is present"
        for stage in table.stages_without_data
    }
    deals = dataset.table("deals")
    if "sellability" not in notes and deals["outcome"].isna().all():
        notes["sellability"] = (
            "no deal has an outcome: the export holds orders only, no proposals that "
            "could be won or lost"
        )
    order = ["sellability", "distance", "priority"]
    return [s for s in order if s in notes], notes


def usable_features(
    table: FeatureTable, missing_stages: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Features the model may learn from, and why each other one is left out."""
    from ghost_model.features import load_catalogue

    catalogue = load_catalogue()
    rows = table.frame[table.frame["label"].notna()]
    kept: list[str] = []
    dropped: dict[str, str] = {}
    for name in table.feature_names:
        stage = catalogue[name].stage if name in catalogue else "context"
        values = rows[name]
        if stage in missing_stages:
            dropped[name] = f"stage {stage} has no data"
        elif values.isna().all():
            dropped[name] = "empty on every labelled row"
        elif values.nunique(dropna=False) < 2:
            dropped[name] = f"constant ({value_text(values.iloc[0])}) on every row"
        else:
            kept.append(name)
    log.info("%d features kept, %d left out", len(kept), len(dropped))
    return kept, dropped


def value_text(value: Any) -> str:
    """A feature value for a sentence: numbers plainly, text quoted."""
    if isinstance(value, int | float):
        return f"{float(value):g}"
    return repr(str(value))


def training_obstacle(table: FeatureTable) -> str:
    """Why no model can be trained on this table, or an empty string."""
    label = table.frame["label"].dropna().astype("int64")
    if label.empty:
        return "no cutoff has a complete label window"
    if label.nunique() < 2:
        return (
            f"every one of the {len(label)} labelled partner-cutoffs has label "
            f"{int(label.iloc[0])}: no partner ever goes "
            "silent for the horizon, so there is nothing to learn or to judge"
        )
    return ""


# Training, scoring, reporting


def train_and_report(result: JobResult, options: JobOptions) -> None:
    """Backtest, fit, log, score and report; fills ``result`` in place."""
    from ghost_model.backtest import run_backtest
    from ghost_model.training import TrainConfig, fit_model

    config = TrainConfig(folds=options.folds)
    if options.trees is not None:
        config = dataclasses.replace(config, num_boost_round=options.trees)
    frame = result.table.frame
    deals = result.dataset.table("deals")

    clock = time.perf_counter()
    backtest = run_backtest(
        frame, result.features, deals, result.dataset.timezone, config
    )
    result.backtest = backtest
    result.fold_metrics = fold_metrics(backtest, frame, config)
    result.seconds["backtest"] = time.perf_counter() - clock

    clock = time.perf_counter()
    metadata = model_metadata(result, backtest)
    result.model = fit_model(frame, result.features, config, metadata=metadata)
    result.seconds["final fit"] = time.perf_counter() - clock

    if options.log_to_mlflow:
        clock = time.perf_counter()
        result.registered = register_model(result, config)
        result.seconds["MLflow log + register"] = time.perf_counter() - clock

    clock = time.perf_counter()
    score_and_report(result, options)
    result.seconds["score + report"] = time.perf_counter() - clock

    clock = time.perf_counter()
    result.figures = draw_figures(result)
    result.paths.extend(result.figures.values())
    result.paths.append(write_tables(result))
    result.seconds["figures"] = time.perf_counter() - clock
    result.trained = True


def fold_metrics(
    backtest: BacktestResult, frame: pd.DataFrame, config: TrainConfig
) -> pd.DataFrame:
    """Per-fold metrics of every method, plus the 180-day deal-count rule.

    The deal-count rule ranks partners by how few deals they registered in the 180
    days before the cutoff (the feature ``deals_180d``); it needs no fitting, and
    only its ranking metrics are reported.
    """
    import numpy as np
    import pandas as pd

    from ghost_model.backtest import classification_metrics

    metrics: pd.DataFrame = backtest.metrics.copy()
    if "deals_180d" not in frame.columns:
        return metrics
    counts = frame.set_index(["partner_id", "as_of"])["deals_180d"]
    rows = []
    for number, fold in enumerate(backtest.folds, start=1):
        test = backtest.predictions[backtest.predictions["as_of"] == fold.test_cutoff]
        keys = pd.MultiIndex.from_frame(test[["partner_id", "as_of"]])
        score = -counts.reindex(keys).fillna(0.0).to_numpy(dtype=float)
        label = test["label"].astype("int64").to_numpy()
        values = classification_metrics(
            label, score, np.full(len(label), label.mean()), config.depths
        )
        ranking = {k: v for k, v in values.items() if k not in ("brier", "log_loss")}
        rows.append(
            {"fold": number, "test_cutoff": fold.test_cutoff, "method": DEAL_COUNT_RULE}
            | ranking
        )
    combined: pd.DataFrame = pd.concat([metrics, pd.DataFrame(rows)], ignore_index=True)
    return combined


def model_metadata(result: JobResult, backtest: BacktestResult) -> dict[str, Any]:
    """Metadata stored with the model and shown by the report."""
    means = backtest.mean_metrics()
    shown = ("roc_auc", "pr_auc", "precision_at_20", "lift_at_20", "brier")
    return {
        "name": f"ghost-partner ({result.name})",
        "version": "real-demo",
        "dataset": result.name,
        "extract_time": result.dataset.extract_time.isoformat(),
        "backtest": {
            str(method): {m: float(row[m]) for m in shown if m in row}
            for method, row in means.iterrows()
        },
        "stages_without_data": result.stages_without_data,
        "features_left_out": result.dropped_features,
    }


def register_model(result: JobResult, config: TrainConfig) -> str:
    """Log the run to the dataset's own MLflow store, register and promote it."""
    from ghost_model.features import load_catalogue
    from ghost_model.registry import promote
    from ghost_model.settings import Settings
    from pipelines.train import backtest_key, log_run

    assert result.model is not None
    assert result.backtest is not None
    settings = Settings(home=result.out_dir)
    catalogue = load_catalogue() | result.model.derived_catalogue()
    stages = {
        name: catalogue[name].stage if name in catalogue else "context"
        for name in result.model.booster_names
    }
    frame = result.table.frame
    latest = frame[frame["as_of"] == result.as_of]
    run = log_run(
        dataset=result.dataset,
        table=frame,
        model=result.model,
        backtest=result.backtest,
        contributions=result.model.predict_contributions(latest),
        stages=stages,
        separation=None,
        separation_scores=None,
        config=config,
        key=backtest_key(result.dataset, result.backtest),
        settings=settings,
    )
    decision = promote(settings)
    store = settings.resolved_tracking_uri().replace(f"{ROOT}/", "")
    return f"{settings.model_name} version {run.version} in {store} ({decision.action})"


def score_and_report(result: JobResult, options: JobOptions) -> None:
    """Score the partners at the latest cutoff and write scores and reports."""
    from ghost_model.report import build_report, write_report
    from ghost_model.scoring import RiskBands, score_history, score_partners
    from ghost_model.scoring import write_scores as write_score_file

    assert result.model is not None
    honest = dataclasses.replace(
        result.table, stages_without_data=list(result.stages_without_data)
    )
    bands = RiskBands()
    timezone = result.dataset.timezone
    history = score_history(result.model, result.table.frame, timezone)
    for lang in options.langs:
        records = score_partners(
            result.model,
            honest,
            timezone=timezone,
            as_of=result.as_of,
            lang=lang,
            bands=bands,
        )
        result.records[lang] = records
        result.paths.append(
            write_score_file(records, result.out_dir / f"scores_{lang}.csv")
        )
        html = build_report(
            records,
            metadata=result.model.metadata,
            history=history,
            lang=lang,
            bands=bands,
            top=options.top,
            title=f"ghost_model — {result.name}",
        )
        result.paths.append(write_report(html, result.out_dir / f"report_{lang}.html"))
    explain_latest(result)


def explain_latest(result: JobResult) -> None:
    """Mean absolute contribution per stage and per feature at the latest cutoff."""
    from ghost_model.features import load_catalogue

    assert result.model is not None
    catalogue = load_catalogue() | result.model.derived_catalogue()
    frame = result.table.frame
    latest = frame[frame["as_of"] == result.as_of]
    contributions = result.model.predict_contributions(latest).drop(columns="bias")
    per_feature = contributions.abs().mean().sort_values(ascending=False)
    stage_of = {
        n: catalogue[n].stage if n in catalogue else "context"
        for n in per_feature.index
    }
    by_stage = contributions.T.groupby(stage_of).sum().T.abs().mean()
    result.importance = per_feature
    result.stage_contributions = by_stage.sort_values(ascending=False)


def draw_figures(result: JobResult) -> dict[str, Path]:
    """Calibration, precision and lift by depth, and the stage picture, as PNG."""
    from ghost_model import plots
    from ghost_model.backtest import METHODS
    from ghost_model.features import load_catalogue

    assert result.backtest is not None
    assert result.model is not None
    catalogue = load_catalogue() | result.model.derived_catalogue()
    stages = {
        n: catalogue[n].stage for n in result.model.booster_names if n in catalogue
    }
    latest = result.table.frame[result.table.frame["as_of"] == result.as_of]
    predictions = result.backtest.predictions
    figures = {
        "calibration": plots.calibration_figure(
            predictions, ("model", "days_since_last_deal", "bgnbd")
        ),
        "depth": plots.depth_figure(predictions, METHODS),
        "stages": plots.stage_shap_figure(
            result.model.predict_contributions(latest), stages
        ),
        "importance": plots.importance_figure(
            result.model.feature_importance(), stages
        ),
    }
    paths = {}
    for name, figure in figures.items():
        path = result.out_dir / f"{name}.png"
        figure.savefig(path, dpi=100)
        paths[name] = path
    return paths


def write_tables(result: JobResult) -> Path:
    """Per-fold metrics as CSV."""
    assert result.fold_metrics is not None
    path = result.out_dir / "backtest_per_fold.csv"
    result.fold_metrics.to_csv(path, index=False)
    return path


def write_feature_summary(result: JobResult) -> Path:
    """For a dataset that cannot be trained on: the feature and rep tables' summary."""
    path = result.out_dir / "features_summary.csv"
    frame = result.table.frame
    frame[result.table.feature_names].describe().T.to_csv(path)
    result.table.reps.to_csv(result.out_dir / "reps.csv", index=False)
    return path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# The results page


def write_results_page(results: list[JobResult], docs: Path) -> Path:
    """Write ``docs/real-data.md`` and copy its figures to ``docs/img``.

    Parameters
    ----------
    results
        The datasets that ran.
    docs
        The documentation folder.

    Returns
    -------
    Path
        The page.
    """
    images = docs / "img"
    images.mkdir(parents=True, exist_ok=True)
    for result in results:
        for name, path in result.figures.items():
            shutil.copyfile(path, images / f"real-{result.name}-{name}.png")
    page = docs / DOCS_PAGE
    specs = {d.name: d for d in DATASETS}
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    page.write_text(render_page(results, specs, generated), encoding="utf-8")
    return page


PAGE_INTRO = """\
# ghost_model on real data

*Generated by `make real-demo` (`pipelines/real_demo.py`) on {generated}; every number
below comes from that run. Rerun it to refresh the page.*

The product's whole job — column mapping, validation, point-in-time features, the
rolling-origin backtest against the baselines, the final model, explained scores and
the HTML report — run on public exports instead of the synthetic ecosystem. The
mappings are in `examples/mappings/`; outputs go to `var/real/<dataset>/`.

**Where the data goes.** `make real-demo` reads `../shared/data/<dataset>/` beside the
repository (`python -m pipelines.real_demo --data-root DIR` reads `DIR/<dataset>/`);
each mapping's YAML names the files it reads. Online Retail II
(`online-retail-ii/`): `online_retail_II_2009-2010.parquet`, sheet "Year 2009-2010"
of UCI's `online_retail_II.xlsx` with its columns as they are (`Invoice`, `StockCode`,
`Description`, `Quantity`, `InvoiceDate` as text `YYYY-MM-DD HH:MM:SS`, `Price`,
`Customer ID`, `Country`), and `online_retail_2010-2011.parquet`, UCI's "Online
Retail" (dataset 352) with its own column names (`InvoiceNo`, `UnitPrice`,
`CustomerID`, the rest alike). CRM Sales Opportunities
(`crm-sales-opportunities/`): Maven Analytics' `sales_pipeline.csv` and
`accounts.csv` as downloaded. Without any of them the command says what it skipped
and exits with status 1.
"""

CANNOT_SHOW = {
    "online-retail-ii": [
        "**Relationship distance.** There are no questions, consultations, portal "
        "views or partner-manager assignments, so this stage has no data and no "
        "explanation can name it.",
        "**Sell-through confidence.** Every invoice is an order: there are no "
        "proposals that were lost or are stalled, so win rates and proposal "
        "features describe nothing here and are left out.",
        "**Rep-level signals.** The export has no sales person on either side; the "
        "rep features and the rep view of the report stay empty.",
        "**Whether silence is churn.** Many customers are seasonal or occasional "
        "buyers; a quiet 90 days is the label, not proof that a customer left. "
        "Customers are retail buyers and wholesalers, not a vendor's contracted "
        "partners, and there is no signed or terminated date.",
        "**Causes.** The data carry no ground truth of why a customer went quiet, "
        "so the stage explanations cannot be checked against a cause here (the "
        "synthetic ecosystem is where that is checked).",
    ],
    "crm-sales-opportunities": [
        "**Model quality.** The company is fictitious and no account ever goes 90 "
        "days without an opportunity, so every label is 0: nothing to learn, "
        "nothing to judge.",
        "**A partner's own reps.** The agents are the vendor's sellers, not staff of "
        "the accounts; a rep here is an (agent, account) pair whose roster entry "
        "starts at its first opportunity and never ends, so roster features "
        "(departures, reps who never sold) carry no information of their own.",
        "**Relationship distance.** No interactions, portal views or manager "
        "assignments.",
    ],
}


OWN_EXPORT = """\
## Mapping your own export

A mapping is a YAML file beside the export (or named by `mapping: {file: ...}` in the
export's `dataset.yaml`). For each contract table it lists the source files (CSV or
Parquet, concatenated, each with its own renames and filters), row filters, and how
each contract column is built: a source `column`, a `template` of several columns, a
constant `value` or a `product` of columns, with an optional value `map` (e.g. CRM
stage names to `won` / `lost` / `open`), a `time_format`, and a `when` condition.
Lines can be folded into one row per key with `aggregate` (e.g. invoice lines into
one deal: first time, summed amount). Start from
`examples/mappings/crm-opportunity-export.yaml` (a typical CRM opportunity export) and
see the module documentation of `ghost_model.mapping` for every key. A mapping that
does not fit its export stops with an error naming the file, the column and the
mapping key; rows that break the contract are quarantined by validation with a
reason each (`ghost-model validate --data DIR --quarantine`).
"""


def render_page(
    results: list[JobResult], specs: dict[str, RealDataset], generated: str
) -> str:
    """The results page as Markdown."""
    parts = [PAGE_INTRO.format(generated=generated)]
    for result in results:
        spec = specs[result.name]
        parts.append(f"## {spec.title}\n")
        if not spec.real:
            parts.append(
                "**Not real data:** the company and its accounts are fictitious. "
                "This run exercises the mapping, validation and rep-level features "
                "on a second shape of export; no model quality can be read from "
                "it.\n"
            )
        parts.append(f"Source: {spec.citation}\n\nLicence: {spec.licence}\n")
        parts.append(data_section(result))
        parts.append(stage_section(result))
        if result.trained:
            parts.extend(
                [
                    backtest_section(result),
                    calibration_section(result),
                    picture_section(result),
                    scores_section(result),
                ]
            )
        else:
            parts.append(untrained_section(result))
        parts.append(cannot_show_section(result))
        parts.append(cost_section(result))
    parts.append(OWN_EXPORT)
    parts.append(citation_section(results, specs))
    return "\n".join(parts)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def data_section(result: JobResult) -> str:
    """Rows read, kept by the mapping, and accepted by validation."""
    rows = [
        [
            f"`{table}`",
            f"{counts['read']:,}",
            f"{counts['kept']:,}",
            f"{counts['mapped']:,}",
            f"{result.row_counts[table]['accepted']:,}",
            f"{result.row_counts[table]['quarantined']:,}",
        ]
        for table, counts in result.mapped_counts.items()
    ]
    text = [
        "### From export to contract\n",
        f"Mapping: `examples/mappings/{result.name}.yaml`. Rows per contract table: "
        "source rows read, kept by the mapping's filters, rows built (after "
        "aggregation), accepted and quarantined by validation.\n",
        md_table(
            ["table", "source rows", "kept", "built", "accepted", "quarantined"], rows
        ),
    ]
    if result.quarantine_reasons:
        text.append("Quarantined rows, by reason:\n")
        text.append(
            md_table(
                ["table: reason", "rows"],
                [[k, f"{v:,}"] for k, v in result.quarantine_reasons.items()],
            )
        )
    frame = result.table.frame
    labelled = frame[frame["label"].notna()]
    rate = labelled.groupby("as_of")["label"].apply(lambda s: s.astype(float).mean())
    text.append(
        f"Feature table: {len(frame):,} partner-cutoffs over "
        f"{frame['as_of'].nunique()} cutoffs (monthly, and the scoring cutoff "
        f"{local_date(result.as_of, result.dataset.timezone)}), "
        f"{len(labelled):,} labelled. Share silent for the next 90 days per "
        f"labelled cutoff: mean {rate.mean():.3f} (min {rate.min():.3f}, max "
        f"{rate.max():.3f}).\n"
    )
    return "\n".join(text)


def stage_section(result: JobResult) -> str:
    """Which stages the data can inform, and which features the model uses."""
    from ghost_model.contract import STAGE_NAMES, STAGES_WITH_CONTEXT
    from ghost_model.features import load_catalogue

    catalogue = load_catalogue()
    names = list(result.features)
    if result.model is not None:
        catalogue |= result.model.derived_catalogue()
        names = result.model.booster_names
    used: dict[str, list[str]] = {s: [] for s in STAGES_WITH_CONTEXT}
    for name in names:
        used[catalogue[name].stage if name in catalogue else "context"].append(name)
    rows = []
    for stage in STAGES_WITH_CONTEXT:
        note = result.stage_notes.get(stage)
        status = f"no data ({note})" if note else f"{len(used[stage])} features"
        features = ", ".join(f"`{n}`" for n in used[stage]) or "—"
        rows.append([f"{STAGE_NAMES[stage]['en']} (`{stage}`)", status, features])
    heading = "features in the model" if result.trained else "usable features"
    text = [
        "### Stages and features\n",
        md_table(["stage", "data", heading], rows),
    ]
    if result.dropped_features:
        reasons: dict[str, list[str]] = {}
        for name, reason in result.dropped_features.items():
            reasons.setdefault(reason, []).append(f"`{name}`")
        text.append("Left out:\n")
        text += [f"- {reason}: {', '.join(names)}" for reason, names in reasons.items()]
        text.append("")
    return "\n".join(text)


def backtest_section(result: JobResult) -> str:
    """Per-fold metrics of the model and the baselines, and the verdict."""
    assert result.fold_metrics is not None
    assert result.backtest is not None
    metrics = result.fold_metrics
    methods = [m for m in PAGE_METHODS if m in set(metrics["method"])]
    text = [
        "### Backtest: model against the baselines, per fold\n",
        f"Rolling origin over {len(result.backtest.folds)} monthly test cutoffs: "
        "each fold trains only on cutoffs whose 90-day label window ended before "
        "the test cutoff. Baselines: days since the last deal and the number of "
        "deals in the last 180 days (rules a sales team uses), the 90-day deal "
        "trend, BG/NBD (a customer-base model of silent defection) and a logistic "
        "regression on the same features. Precision and lift are taken in the "
        "20% of partners ranked riskiest.\n",
        verdict(metrics),
    ]
    for metric, title in PAGE_METRICS.items():
        pivot = metrics.pivot_table(
            index="test_cutoff", columns="method", values=metric, sort=True
        )
        rows = [
            [local_date(cutoff, result.dataset.timezone)]
            + [fmt(row.get(m)) for m in methods]
            for cutoff, row in pivot.iterrows()
        ]
        rows.append(["**mean**"] + [f"**{fmt(pivot[m].mean())}**" for m in methods])
        text.append(f"**{title}**\n")
        text.append(
            md_table(["test cutoff", *(METHOD_NAMES[m] for m in methods)], rows)
        )
    lead = result.backtest.lead_time
    if lead.get("partners"):
        text.append(
            'Early warning against the rule "no deal for 90 days" (model threshold '
            "set to the rule's precision at each cutoff): median lead "
            f"{lead['median_days']:.0f} days (quartiles {lead['q1_days']:.0f} to "
            f"{lead['q3_days']:.0f}) over {lead['flagged_earlier_or_same']} of "
            f"{lead['partners']} partners the rule flagged and who stayed silent.\n"
        )
    return "\n".join(text)


def verdict(metrics: pd.DataFrame) -> str:
    """How often the model beats each rival on PR-AUC and ROC-AUC, in words."""
    pivots = {
        metric: metrics.pivot_table(
            index="test_cutoff", columns="method", values=metric
        )
        for metric in ("pr_auc", "roc_auc")
    }
    lines = []
    for rival in ("days_since_last_deal", DEAL_COUNT_RULE, "bgnbd", "logistic"):
        if rival not in pivots["roc_auc"].columns:
            continue
        parts = []
        for metric, pivot in pivots.items():
            margin = pivot["model"] - pivot[rival]
            parts.append(
                f"{PAGE_METRICS[metric]} better in {int((margin > 0).sum())} of "
                f"{len(margin)} folds, margin {margin.mean():+.3f} on average "
                f"(smallest {margin.min():+.3f})"
            )
        lines.append(f"- vs {METHOD_NAMES[rival]}: " + "; ".join(parts))
    text = "The model against each rival:\n\n" + "\n".join(lines) + "\n"
    return text + reading(pivots["pr_auc"])


def reading(pivot: pd.DataFrame) -> str:
    """What the per-fold PR-AUC says about the model, in plain words."""
    rules = [m for m in ("days_since_last_deal", DEAL_COUNT_RULE) if m in pivot]
    beats_rules = all(bool((pivot["model"] > pivot[m]).all()) for m in rules)
    text = []
    if rules and beats_rules:
        text.append("The model beats the rules a sales team uses today in every fold.")
    elif rules:
        text.append("The model does **not** beat the sales team's rules in every fold.")
    if "bgnbd" in pivot and not bool((pivot["model"] > pivot["bgnbd"]).all()):
        text.append(
            "It does **not** beat BG/NBD in every fold, a model made for exactly this "
            "kind of data (purchase histories alone), although it reads BG/NBD's own "
            "probability of silence as an input (`deal_rhythm_p_silent`, parameters "
            "fitted on the training rows): the BG/NBD baseline is refitted at each "
            "test cutoff on every customer's history up to that day, a horizon more "
            "recent than any training row, and with deals only the feature table "
            "holds little beyond recency and frequency. The logistic regression on "
            "the same features lands at the level of the trees or slightly above. "
            "Whatever edge "
            "the model has over BG/NBD has to come from the stages this export "
            "cannot provide (proposals and their outcomes, questions and support, "
            "the partner's reps); on this data it should not be presented as better "
            "than BG/NBD."
        )
    return ("\n" + " ".join(text) + "\n") if text else ""


def calibration_section(result: JobResult) -> str:
    """The calibration plot and the Brier scores."""
    assert result.backtest is not None
    predictions = result.backtest.predictions
    means = result.backtest.mean_metrics()
    observed = predictions["label"].astype(float).mean()
    rows = [
        [METHOD_NAMES[m], fmt(means.loc[m, "brier"]), fmt(means.loc[m, "log_loss"])]
        for m in PAGE_METHODS
        if m in means.index
    ]
    return "\n".join(
        [
            "### Calibration\n",
            f"![calibration](img/real-{result.name}-calibration.png)\n",
            "Out-of-fold probabilities pooled over the folds: mean predicted "
            f"probability of silence {predictions['model_proba'].mean():.3f}, "
            f"observed share {observed:.3f}. Mean Brier score and log loss per fold "
            "(lower is better):\n",
            md_table(["method", "Brier", "log loss"], rows),
            f"![precision and lift by depth](img/real-{result.name}-depth.png)\n",
        ]
    )


def picture_section(result: JobResult) -> str:
    """Stage contributions and the features that carry the score."""
    from ghost_model.features import load_catalogue

    assert result.stage_contributions is not None
    assert result.importance is not None
    catalogue = load_catalogue()
    if result.model is not None:
        catalogue |= result.model.derived_catalogue()
    stage_rows = [
        [f"`{stage}`", fmt(value)]
        for stage, value in result.stage_contributions.items()
    ]
    feature_rows = [
        [
            f"`{name}`",
            catalogue[name].stage if name in catalogue else "context",
            fmt(value),
            catalogue[name].description if name in catalogue else "",
        ]
        for name, value in result.importance.head(10).items()
    ]
    return "\n".join(
        [
            "### Stage and feature picture\n",
            f"At the scoring cutoff {local_date(result.as_of, result.dataset.timezone)}"
            ": mean absolute contribution (log-odds: the trees' SHAP values plus the "
            "linear part of the blend) per stage and for the ten strongest "
            "features.\n",
            f"![stages](img/real-{result.name}-stages.png)\n",
            md_table(["stage", "mean abs. contribution"], stage_rows),
            md_table(
                ["feature", "stage", "mean abs. contribution", "meaning"], feature_rows
            ),
            f"![feature importance](img/real-{result.name}-importance.png)\n",
        ]
    )


def scores_section(result: JobResult) -> str:
    """What the scoring run produced."""
    records = result.records.get("en") or next(iter(result.records.values()), [])
    bands = {b: sum(r["risk_band"] == b for r in records) for b in ("high", "medium")}
    driving: dict[str, int] = {}
    for record in records:
        stage = str(record.get("driving_stage") or "none (no stage raises the risk)")
        driving[stage] = driving.get(stage, 0) + 1
    driven = ", ".join(f"{k} {v}" for k, v in sorted(driving.items()))
    folder = shown_path(result.out_dir)
    reports = ", ".join(f"`{folder}/report_{lang}.html`" for lang in result.records)
    text = [
        "### Scores and report\n",
        f"{len(records):,} partners scored as of "
        f"{local_date(result.as_of, result.dataset.timezone)}: {bands['high']} in the "
        f"high band, {bands['medium']} medium. Driving stage: {driven}. Reports: "
        f"{reports}; scores: `{folder}/scores_en.csv`.\n",
    ]
    same_month = same_month_rates(result)
    if same_month:
        text.append(
            "The bands use fixed thresholds (high from 0.5, medium from 0.25). For "
            "comparison, the share that went silent at labelled cutoffs of the same "
            f"calendar month: {same_month}.\n"
        )
    if result.registered:
        text.append(f"Model logged and registered: {result.registered}.\n")
    return "\n".join(text)


def same_month_rates(result: JobResult) -> str:
    """Observed silence shares at labelled cutoffs in the scoring cutoff's month."""
    timezone = result.dataset.timezone
    frame = result.table.frame
    labelled = frame[frame["label"].notna()]
    month = result.as_of.tz_convert(timezone).month
    local = labelled["as_of"].dt.tz_convert(timezone)
    rows = labelled[local.dt.month == month]
    rates = rows.groupby("as_of")["label"].apply(lambda s: s.astype(float).mean())
    return ", ".join(
        f"{rate:.2f} ({local_date(cutoff, timezone)})" for cutoff, rate in rates.items()
    )


def untrained_section(result: JobResult) -> str:
    """Why no model was trained, and the rep-level picture the data do give."""
    reps = result.table.reps
    latest = reps[reps["as_of"] == reps["as_of"].max()] if len(reps) else reps
    text = ["### No model\n", f"Not trained: {result.skip_reason}.\n"]
    if len(latest):
        per_partner = latest.groupby("partner_id").size()
        quiet = latest["quiet"].astype(float).mean() if "quiet" in latest else 0.0
        text.append(
            "Rep-level view at the last cutoff "
            f"({local_date(reps['as_of'].max(), result.dataset.timezone)}): "
            f"{len(latest):,} reps at {per_partner.size} partners "
            f"(median {per_partner.median():.0f} per partner); {quiet:.0%} of them "
            "quiet.\n"
        )
    frame = result.table.frame
    rep_features = [
        n
        for n in ("reps_proposing_90d", "top_rep_share_180d", "quiet_reps", "n_reps")
        if n in frame.columns
    ]
    if rep_features:
        rows = [
            [f"`{n}`", fmt(frame[n].mean()), fmt(frame[n].min()), fmt(frame[n].max())]
            for n in rep_features
        ]
        text.append(md_table(["rep-level feature", "mean", "min", "max"], rows))
    return "\n".join(text)


def cannot_show_section(result: JobResult) -> str:
    """The limits of the dataset."""
    items = CANNOT_SHOW.get(result.name, [])
    lines = "\n".join(f"- {item}" for item in items)
    return f"### What this data cannot show\n\n{lines}\n"


def cost_section(result: JobResult) -> str:
    """Wall time per step and peak memory of the run, and the benchmark if any."""
    rows = [[step, f"{seconds:.1f}"] for step, seconds in result.seconds.items()]
    text = [
        "### Cost of this run\n",
        md_table(["step", "seconds"], rows),
        f"Peak resident memory of the demo process so far: "
        f"{result.peak_rss_mb:,.0f} MB; {os.cpu_count()} CPUs, load average "
        f"{result.load_average:.1f} at the end of the run (a shared machine is "
        "slower than its CPU count suggests).\n",
    ]
    bench = ROOT / "var" / "real" / "bench_real.json"
    if result.name == "online-retail-ii" and bench.is_file():
        numbers = json.loads(bench.read_text(encoding="utf-8"))
        text.append(
            "`benchmarks/bench_real.py` (the whole job in a fresh process, "
            f"{numbers['folds']} folds, measured {numbers['measured_at']} on "
            f"{numbers['cpus']} CPUs at load average "
            f"{numbers['load_average_5min']}): {numbers['job_seconds']:.0f} s and "
            f"{numbers['job_peak_mb']} MB peak, against "
            f"{numbers['baseline_seconds']:.0f} s and "
            f"{numbers['baseline_peak_mb']} MB for a bare pandas read and "
            "aggregate of the same invoices.\n"
        )
    return "\n".join(text)


def citation_section(results: list[JobResult], specs: dict[str, RealDataset]) -> str:
    """Citations and licences of every dataset used."""
    lines = ["## Citations and licences\n"]
    for result in results:
        spec = specs[result.name]
        lines.append(f"- **{result.name}**: {spec.citation} {spec.licence}")
    lines.append(
        "\nThe committed test sample `tests/data/sample/online-retail-ii/` is an "
        "excerpt of Online Retail II under the same terms (see its README).\n"
    )
    return "\n".join(lines)


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it."""
    resolved = path.resolve()
    if resolved.is_relative_to(ROOT):
        return str(resolved.relative_to(ROOT))
    return str(path)


def local_date(instant: Any, timezone: str) -> str:
    """A UTC cutoff instant as a date in the dataset's zone."""
    import pandas as pd

    return str(pd.Timestamp(instant).tz_convert(timezone).date())


def fmt(value: Any) -> str:
    """A metric with three decimals; empty when missing."""
    import math

    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return ""
    return f"{value:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
