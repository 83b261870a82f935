"""MLflow access: the tracking store, training runs, the registry and its aliases.

Every function takes a :class:`~ghost_model.settings.Settings` and sets MLflow's
tracking and registry URI explicitly from ``Settings.resolved_tracking_uri()`` (a
SQLite file under ``home`` unless ``MLFLOW_TRACKING_URI`` says otherwise); nothing
is set at import. With a local store, run artifacts live under ``home/mlartifacts``.

Layout::

    experiment <model_name>           one run per `ghost-model train`, one per decision
      run  train-<dataset>            params, data summary, per-fold and mean metrics
                                      (model and baselines), plots, feature catalogue,
                                      the model (pyfunc over booster.txt + model.json)
      run  promote-v<N> / rollback    the decision with both sets of numbers
    registered model <model_name>
      version N   tags: backtest_key, backtest_pr_auc_mean, run_id,
                        previous_champion (set when it became champion), decisions
      aliases     candidate -> latest trained, champion -> serving

Promotion moves ``champion`` to the candidate only when the candidate's backtest
PR-AUC (mean over folds) is at least the champion's on the same backtest (same data,
same folds). Rolling back moves ``champion`` to the version it replaced.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.pyfunc.model import PythonModel
from mlflow.tracking import MlflowClient

from ghost_model.errors import ModelNotReadyError
from ghost_model.model import PartnerRiskModel
from ghost_model.settings import Settings

log = logging.getLogger(__name__)

CANDIDATE = "candidate"
CHAMPION = "champion"
MODEL_ARTIFACT = "model"
KEY_TAG = "backtest_key"
SCORE_TAG = "backtest_pr_auc_mean"
RERUN_VERSION_TAG = "champion_rerun_version"
RERUN_SCORE_TAG = "champion_rerun_pr_auc_mean"
PREVIOUS_TAG = "previous_champion"
MODEL_CODE = Path(__file__).with_name("mlflow_entry.py")
"""The file MLflow runs to rebuild a logged model (:mod:`ghost_model.mlflow_entry`)."""
PIP_REQUIREMENTS = [
    "lightgbm==4.7.0",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "scikit-learn==1.9.1",
    "mlflow==3.17.2",
]


# tracking store --------------------------------------------------------------------


def configure_tracking(settings: Settings) -> MlflowClient:
    """A client bound to the configured store (tracking and registry).

    MLflow's global URI is left alone on purpose: setting it also writes
    ``MLFLOW_TRACKING_URI`` into the process environment, which later
    :class:`Settings` objects would then read. Every call here goes through an
    explicit client instead.
    """
    uri = settings.resolved_tracking_uri()
    if uri.startswith("sqlite:///") and settings.tracking_uri is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def is_local_store(uri: str) -> bool:
    """Whether the tracking URI is a file or SQLite store on this machine."""
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def ensure_experiment(settings: Settings, client: MlflowClient) -> str:
    """The experiment named after the model, created with local artifacts if needed."""
    name = settings.model_name
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = None
    if is_local_store(settings.resolved_tracking_uri()):
        root = (settings.home / "mlartifacts").resolve()
        root.mkdir(parents=True, exist_ok=True)
        location = root.as_uri()
    return str(client.create_experiment(name, artifact_location=location))


# the MLflow model ------------------------------------------------------------------


class PartnerRiskPyfunc(PythonModel):
    """The MLflow face of a :class:`PartnerRiskModel` saved as plain files."""

    model: PartnerRiskModel

    def load_context(self, context: Any) -> None:
        """Read the model from the logged ``model`` artifact folder."""
        self.model = PartnerRiskModel.load(Path(context.artifacts["model"]))

    def predict(
        self,
        context: Any,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Calibrated probability and raw log-odds for each input row.

        MLflow infers no schema from a ``pd.DataFrame`` hint; the logged signature
        describes (and checks) the input columns.
        """
        frame = pd.DataFrame(model_input)
        return pd.DataFrame(
            {
                "probability": self.model.predict_proba(frame),
                "raw_score": self.model.predict_raw(frame),
            },
            index=frame.index,
        )


def model_signature(model: PartnerRiskModel, example: pd.DataFrame) -> Any:
    """Signature of the logged model: feature columns in, probability out."""
    inputs = signature_input(model, example)
    outputs = pd.DataFrame(
        {
            "probability": model.predict_proba(example),
            "raw_score": model.predict_raw(example),
        }
    )
    return infer_signature(inputs, outputs)


def signature_input(model: PartnerRiskModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Feature columns with plain dtypes: categories as text, the rest as float."""
    data: dict[str, Any] = {}
    for name in model.feature_names:
        column = frame[name]
        if name in model.categorical_levels:
            data[name] = column.astype("object").where(column.notna(), None)
        else:
            data[name] = pd.to_numeric(column.astype("object")).astype("float64")
    return pd.DataFrame(data, index=frame.index)


# training runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredRun:
    """Where a training run and its registered model version live."""

    run_id: str
    experiment_id: str
    version: str
    model_uri: str


def log_training_run(
    *,
    model: PartnerRiskModel,
    example: pd.DataFrame,
    params: dict[str, Any],
    metrics: dict[str, float],
    step_metrics: list[tuple[str, float, int]],
    tags: dict[str, str],
    tables: dict[str, pd.DataFrame],
    documents: dict[str, Any],
    figures: dict[str, Any],
    backtest_key: str,
    pr_auc_mean: float,
    settings: Settings,
    run_name: str = "train",
) -> RegisteredRun:
    """Log a training run, log and register its model, point ``candidate`` at it.

    Parameters
    ----------
    model
        The final model.
    example
        A few feature rows, for the signature and the input example.
    params
        Run parameters (values are turned into text).
    metrics
        Run-level metrics (e.g. mean backtest metrics).
    step_metrics
        ``(key, value, step)`` triples, e.g. per-fold metrics with the fold as step.
    tags
        Run tags.
    tables
        CSV artifacts by file name.
    documents
        JSON artifacts by file name.
    figures
        Matplotlib figures by PNG file name.
    backtest_key
        Identity of the backtest (data and folds), for the promotion gate.
    pr_auc_mean
        The model's mean backtest PR-AUC, for the promotion gate.
    settings
        Where the tracking store is.
    run_name
        Name of the MLflow run.

    Returns
    -------
    RegisteredRun
        The run id and the registered version.
    """
    client = configure_tracking(settings)
    experiment_id = ensure_experiment(settings, client)
    run = client.create_run(
        experiment_id, run_name=run_name, tags=tags | {KEY_TAG: backtest_key}
    )
    run_id = run.info.run_id
    try:
        log_values(client, run_id, params, metrics, step_metrics)
        log_artifacts(client, run_id, tables, documents, figures)
        version = log_model(client, run_id, model, example, settings.model_name)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id)
    client.set_registered_model_alias(settings.model_name, CANDIDATE, version)
    for key, value in {
        KEY_TAG: backtest_key,
        SCORE_TAG: f"{pr_auc_mean:.10f}",
        "run_id": run_id,
    }.items():
        client.set_model_version_tag(settings.model_name, version, key, value)
    log.info(
        "logged run %s and registered %s version %s as %r",
        run_id,
        settings.model_name,
        version,
        CANDIDATE,
    )
    uri = f"models:/{settings.model_name}/{version}"
    return RegisteredRun(run_id, experiment_id, version, uri)


def log_values(
    client: MlflowClient,
    run_id: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    step_metrics: list[tuple[str, float, int]],
) -> None:
    """Log params and metrics in a few batches."""
    stamp = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    param_list = [Param(k, str(v)[:6000]) for k, v in params.items()]
    metric_list = [
        Metric(k, float(v), stamp, 0) for k, v in metrics.items() if np.isfinite(v)
    ]
    metric_list += [
        Metric(k, float(v), stamp, step)
        for k, v, step in step_metrics
        if np.isfinite(v)
    ]
    for start in range(0, len(param_list), 100):
        client.log_batch(run_id, params=param_list[start : start + 100])
    for start in range(0, len(metric_list), 1000):
        client.log_batch(run_id, metrics=metric_list[start : start + 1000])


def log_artifacts(
    client: MlflowClient,
    run_id: str,
    tables: dict[str, pd.DataFrame],
    documents: dict[str, Any],
    figures: dict[str, Any],
) -> None:
    """Log tables and documents under ``backtest/`` and figures under ``plots/``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, table in tables.items():
            table.to_csv(folder / name, index=False)
        for name, document in documents.items():
            (folder / name).write_text(json.dumps(document, indent=2, default=str))
        if tables or documents:
            client.log_artifacts(run_id, str(folder), artifact_path="backtest")
    for name, figure in figures.items():
        client.log_figure(run_id, figure, f"plots/{name}")


def log_model(
    client: MlflowClient,
    run_id: str,
    model: PartnerRiskModel,
    example: pd.DataFrame,
    name: str,
) -> str:
    """Save ``model`` as a pyfunc with a signature, log it, register a version."""
    with tempfile.TemporaryDirectory() as tmp:
        saved = model.save(Path(tmp) / "partner_risk_model")
        local = Path(tmp) / MODEL_ARTIFACT
        mlflow.pyfunc.save_model(
            path=str(local),
            python_model=str(MODEL_CODE),
            artifacts={"model": str(saved)},
            signature=model_signature(model, example),
            input_example=signature_input(model, example.head(3)),
            pip_requirements=PIP_REQUIREMENTS,
        )
        client.log_artifacts(run_id, str(local), artifact_path=MODEL_ARTIFACT)
    source = f"{client.get_run(run_id).info.artifact_uri}/{MODEL_ARTIFACT}"
    try:
        client.create_registered_model(name)
    except MlflowException:
        log.debug("registered model %r exists", name)
    version = client.create_model_version(name, source=source, run_id=run_id)
    return str(version.version)


# loading ---------------------------------------------------------------------------


def load_model(
    alias: str = CHAMPION, settings: Settings | None = None
) -> PartnerRiskModel:
    """Load the model version that ``alias`` points at.

    Parameters
    ----------
    alias
        ``champion`` (serving and scoring) or ``candidate``.
    settings
        Where the tracking store is; defaults to :class:`Settings`.

    Returns
    -------
    PartnerRiskModel
        The model, with ``metadata`` ``name``, ``version`` and ``alias`` set.
    """
    settings = settings or Settings()
    client = configure_tracking(settings)
    version = alias_version(client, settings.model_name, alias)
    if version is None:
        raise ModelNotReadyError(
            f"registry {settings.resolved_tracking_uri()!r}: model "
            f"{settings.model_name!r} has no version with alias {alias!r}; run "
            "`ghost-model train --data DIR --promote` first"
        )
    pyfunc = load_pyfunc(client, settings, version.source)
    model: PartnerRiskModel = pyfunc.unwrap_python_model().model
    model.metadata.update(
        {"name": settings.model_name, "version": str(version.version), "alias": alias}
    )
    return model


def load_pyfunc(client: MlflowClient, settings: Settings, source: str) -> Any:
    """Download a model version's files (if remote) and load them as a pyfunc."""
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source,
            dst_path=tmp,
            tracking_uri=settings.resolved_tracking_uri(),
        )
        return mlflow.pyfunc.load_model(local)


def alias_version(client: MlflowClient, name: str, alias: str) -> Any | None:
    """The model version behind ``alias``, or None when there is none."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


# promotion -------------------------------------------------------------------------


@dataclass(frozen=True)
class PromotionDecision:
    """What ``promote`` decided and on which numbers."""

    action: str
    candidate_version: str | None
    champion_version: str | None
    candidate_pr_auc: float | None
    champion_pr_auc: float | None
    reason: str

    @property
    def champion_after(self) -> str | None:
        """The version ``champion`` points at after the decision."""
        if self.action == "promoted":
            return self.candidate_version
        return self.champion_version


def promote(settings: Settings, rollback: bool = False) -> PromotionDecision:
    """Move ``champion`` to the candidate when it is at least as good, or roll back.

    Parameters
    ----------
    settings
        Where the registry is and the model's name.
    rollback
        Move ``champion`` back to the version it replaced instead.

    Returns
    -------
    PromotionDecision
        The decision, logged to MLflow and to the log as well.
    """
    client = configure_tracking(settings)
    if rollback:
        decision = roll_back(client, settings.model_name)
    else:
        decision = gate(client, settings.model_name)
    record_decision(client, settings, decision)
    return decision


def gate(client: MlflowClient, name: str) -> PromotionDecision:
    """Compare candidate and champion on the same backtest; move the alias if earned."""
    candidate = alias_version(client, name, CANDIDATE)
    if candidate is None:
        raise ModelNotReadyError(
            f"model {name!r} has no {CANDIDATE!r} version; run "
            "`ghost-model train --data DIR` first"
        )
    champion = alias_version(client, name, CHAMPION)
    mine = float(candidate.tags[SCORE_TAG])
    if champion is None:
        set_champion(client, name, str(candidate.version), previous=None)
        return PromotionDecision(
            "promoted", str(candidate.version), None, mine, None, "first model"
        )
    if str(champion.version) == str(candidate.version):
        return PromotionDecision(
            "kept",
            str(candidate.version),
            str(champion.version),
            mine,
            mine,
            "the candidate is already the champion",
        )
    theirs = champion_score(candidate, champion)
    if mine >= theirs:
        set_champion(
            client, name, str(candidate.version), previous=str(champion.version)
        )
        action, verdict = "promoted", "at least as good as"
    else:
        action, verdict = "rejected", "worse than"
    reason = (
        f"candidate PR-AUC {mine:.4f} is {verdict} champion v{champion.version} "
        f"PR-AUC {theirs:.4f} on the same backtest"
    )
    return PromotionDecision(
        action, str(candidate.version), str(champion.version), mine, theirs, reason
    )


@dataclass(frozen=True)
class ChampionRecipe:
    """How the current champion was trained, to backtest it on new folds."""

    version: str
    backtest_key: str | None
    config: dict[str, Any]
    feature_names: list[str]


def champion_recipe(settings: Settings) -> ChampionRecipe | None:
    """The champion's version, backtest key, training config and features."""
    client = configure_tracking(settings)
    champion = alias_version(client, settings.model_name, CHAMPION)
    if champion is None:
        return None
    model = load_model(CHAMPION, settings)
    return ChampionRecipe(
        version=str(champion.version),
        backtest_key=champion.tags.get(KEY_TAG),
        config=dict(model.metadata.get("config", {})),
        feature_names=list(model.feature_names),
    )


def record_champion_rerun(
    settings: Settings, candidate_version: str, champion_version: str, pr_auc: float
) -> None:
    """Tag the candidate with the champion recipe's PR-AUC on its own backtest."""
    client = configure_tracking(settings)
    name = settings.model_name
    client.set_model_version_tag(
        name, candidate_version, RERUN_VERSION_TAG, champion_version
    )
    client.set_model_version_tag(
        name, candidate_version, RERUN_SCORE_TAG, f"{pr_auc:.10f}"
    )


def champion_score(candidate: Any, champion: Any) -> float:
    """The champion's PR-AUC on the candidate's backtest."""
    if champion.tags.get(KEY_TAG) == candidate.tags.get(KEY_TAG):
        return float(champion.tags[SCORE_TAG])
    if candidate.tags.get(RERUN_VERSION_TAG) == str(champion.version):
        return float(candidate.tags[RERUN_SCORE_TAG])
    raise ModelNotReadyError(
        f"champion v{champion.version} was backtested on other data or folds "
        f"({champion.tags.get(KEY_TAG)!r}) than candidate v{candidate.version} "
        f"({candidate.tags.get(KEY_TAG)!r}); run `ghost-model train --data DIR` "
        "again so that the champion's settings are backtested on the same folds"
    )


def set_champion(
    client: MlflowClient, name: str, version: str, previous: str | None
) -> None:
    """Point ``champion`` at ``version``, remembering the version it replaces."""
    if previous is not None:
        client.set_model_version_tag(name, version, PREVIOUS_TAG, previous)
    client.set_registered_model_alias(name, CHAMPION, version)


def roll_back(client: MlflowClient, name: str) -> PromotionDecision:
    """Move ``champion`` back to the version the current champion replaced."""
    champion = alias_version(client, name, CHAMPION)
    if champion is None:
        raise ModelNotReadyError(
            f"model {name!r} has no {CHAMPION!r} version to roll back; "
            "run `ghost-model promote` first"
        )
    previous = champion.tags.get(PREVIOUS_TAG)
    if not previous:
        raise ModelNotReadyError(
            f"champion v{champion.version} of {name!r} replaced no earlier champion; "
            "there is nothing to roll back to"
        )
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_model_version_tag(name, str(champion.version), "rolled_back", "true")
    older = client.get_model_version(name, previous)
    return PromotionDecision(
        "rolled_back",
        str(champion.version),
        previous,
        _score(champion),
        _score(older),
        f"champion moved back from v{champion.version} to v{previous}",
    )


def _score(version: Any) -> float | None:
    value = version.tags.get(SCORE_TAG)
    return float(value) if value is not None else None


def record_decision(
    client: MlflowClient, settings: Settings, decision: PromotionDecision
) -> None:
    """Log the decision: one info line, a small MLflow run and a version tag."""
    before, after = (
        ("from", "to")
        if decision.action == "rolled_back"
        else ("candidate", "champion")
    )
    log.info(
        "%s: %s (%s v%s PR-AUC %s, %s v%s PR-AUC %s)",
        decision.action,
        decision.reason,
        before,
        decision.candidate_version,
        _fmt(decision.candidate_pr_auc),
        after,
        decision.champion_version,
        _fmt(decision.champion_pr_auc),
    )
    experiment_id = ensure_experiment(settings, client)
    run_name = (
        "rollback"
        if decision.action == "rolled_back"
        else f"promote-v{decision.candidate_version}"
    )
    run = client.create_run(
        experiment_id,
        run_name=run_name,
        tags={"kind": "promotion", "action": decision.action},
    )
    params = {
        "action": decision.action,
        "reason": decision.reason,
        "candidate_version": decision.candidate_version,
        "champion_version": decision.champion_version,
    }
    scores = {
        "candidate_pr_auc_mean": decision.candidate_pr_auc,
        "champion_pr_auc_mean": decision.champion_pr_auc,
    }
    log_values(
        client,
        run.info.run_id,
        params,
        {k: v for k, v in scores.items() if v is not None},
        [],
    )
    client.set_terminated(run.info.run_id)
    if decision.candidate_version is not None and decision.action != "rolled_back":
        client.set_model_version_tag(
            settings.model_name,
            decision.candidate_version,
            "promotion_decision",
            f"{decision.action}: {decision.reason}",
        )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
