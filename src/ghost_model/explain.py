"""Why a partner's risk is what it is: contributions per feature, per stage, reasons.

The model's trees give, for every scored row, one SHAP contribution per feature
(TreeSHAP, through LightGBM's ``pred_contrib``) and a base value; base value plus all
contributions equals the raw score in log-odds. What a partner-sales lead sees is
built from them:

* the contribution of each stage: the sum over the catalogue's features of that stage
  (``context`` is reported too, but never drives);
* the driving stage: among ``sellability``, ``distance`` and ``priority``, the one with
  the largest positive push towards silence (none when no stage pushes up);
* the top reasons: the features that push risk up most, as sentences carrying the
  partner's own numbers, rendered from the catalogue's templates in English or
  Japanese.

A stage without data for the dataset (its source tables are absent) gets no
contribution (None), drives nothing and gives no reasons.

The module takes a model object with ``predict_proba`` and ``predict_contributions``
and never loads one itself.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ghost_model.actions import check_lang
from ghost_model.contract import STAGES, STAGES_WITH_CONTEXT
from ghost_model.errors import ConfigError
from ghost_model.features.catalogue import FeatureSpec

logger = logging.getLogger(__name__)

BIAS = "bias"
"""Column of the base value in a contribution frame."""

Renderer = Callable[[FeatureSpec, Mapping[str, Any], str], str]
"""Turns a catalogue entry and a partner's feature row into a sentence."""


class ExplainableModel(Protocol):
    """What explaining needs from a model (``PartnerRiskModel`` provides it)."""

    @property
    def feature_names(self) -> list[str]: ...

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...

    def predict_contributions(self, frame: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class Reason:
    """One feature that pushes a partner's risk up, in words."""

    feature: str
    stage: str
    contribution: float
    value: Any
    text: str

    def to_dict(self) -> dict[str, Any]:
        """The reason as a JSON-safe mapping."""
        return {
            "feature": self.feature,
            "stage": self.stage,
            "contribution": json_safe(self.contribution),
            "value": json_safe(self.value),
            "text": self.text,
        }


@dataclass(frozen=True)
class Explanation:
    """The explained score of one partner at one cutoff."""

    partner_id: str
    probability: float
    raw_score: float
    base_value: float
    stage_contributions: dict[str, float | None]
    driving_stage: str | None
    reasons: list[Reason] = field(default_factory=list)


def feature_contributions(model: ExplainableModel, frame: pd.DataFrame) -> pd.DataFrame:
    """SHAP contributions of every feature, one row per row of ``frame``.

    Parameters
    ----------
    model
        A fitted model with ``feature_names`` and ``predict_contributions``.
    frame
        Feature rows holding at least the model's features.

    Returns
    -------
    pandas.DataFrame
        One column per model feature plus ``"bias"`` (the base value), in log-odds,
        on a fresh RangeIndex; each row sums to the model's raw score.

    Raises
    ------
    ConfigError
        When ``frame`` lacks a feature the model needs.
    """
    missing = [name for name in model.feature_names if name not in frame.columns]
    if missing:
        raise ConfigError(
            f"the feature rows lack {len(missing)} feature(s) the model needs, e.g. "
            f"{missing[:5]!r}; build them with the same feature catalogue as training"
        )
    contributions = model.predict_contributions(frame)
    return contributions.reset_index(drop=True)


def with_derived_inputs(
    model: ExplainableModel, rows: pd.DataFrame, catalogue: Mapping[str, FeatureSpec]
) -> tuple[pd.DataFrame, Mapping[str, FeatureSpec]]:
    """Rows and catalogue extended by the inputs a model derives itself.

    A model may compute inputs of its own from the feature rows (``with_derived``)
    and describe them (``derived_catalogue``); their values and entries are then
    available to contributions, stages and reasons like any feature's.
    """
    derive = getattr(model, "with_derived", None)
    describe = getattr(model, "derived_catalogue", None)
    if derive is None or describe is None:
        return rows, catalogue
    return derive(rows), {**catalogue, **describe()}


def sum_by_stage(
    contributions: pd.DataFrame,
    catalogue: Mapping[str, FeatureSpec],
    stages_without_data: Iterable[str] = (),
) -> pd.DataFrame:
    """Contributions summed per stage.

    Parameters
    ----------
    contributions
        Output of :func:`feature_contributions`.
    catalogue
        The feature catalogue; it must name the stage of every feature.
    stages_without_data
        Stages whose source tables the dataset lacks; their sums are NaN.

    Returns
    -------
    pandas.DataFrame
        One column per stage of ``STAGES_WITH_CONTEXT``; NaN for a stage with no
        feature in the model or no data in the dataset.

    Raises
    ------
    ConfigError
        When a feature is missing from the catalogue.
    """
    stage_of = stages_of(contributions.columns.drop(BIAS, errors="ignore"), catalogue)
    no_data = set(stages_without_data)
    sums = {}
    for stage in STAGES_WITH_CONTEXT:
        columns = [name for name, s in stage_of.items() if s == stage]
        if not columns or stage in no_data:
            sums[stage] = pd.Series(np.nan, index=contributions.index)
        else:
            sums[stage] = contributions[columns].sum(axis=1)
    return pd.DataFrame(sums, index=contributions.index)


def stages_of(
    features: Iterable[str], catalogue: Mapping[str, FeatureSpec]
) -> dict[str, str]:
    """The stage of each feature, from the catalogue.

    Parameters
    ----------
    features
        Feature names.
    catalogue
        The feature catalogue.

    Returns
    -------
    dict
        Feature name to stage.

    Raises
    ------
    ConfigError
        When a feature is not in the catalogue or its stage is unknown.
    """
    unknown = [name for name in features if name not in catalogue]
    if unknown:
        raise ConfigError(
            f"feature(s) {unknown[:5]!r} are not in the feature catalogue; every model "
            "feature needs a catalogue entry naming its stage"
        )
    out = {name: catalogue[name].stage for name in features}
    bad = {name: s for name, s in out.items() if s not in STAGES_WITH_CONTEXT}
    if bad:
        raise ConfigError(
            f"catalogue stage(s) {bad!r} are not among {STAGES_WITH_CONTEXT}"
        )
    return out


def pick_driving_stage(stage_contributions: Mapping[str, float | None]) -> str | None:
    """The stage with the largest positive push towards silence.

    Parameters
    ----------
    stage_contributions
        Contribution per stage; ``context`` and missing (None/NaN) stages are
        ignored.

    Returns
    -------
    str or None
        One of ``STAGES``, or None when no stage pushes risk up.
    """
    best: str | None = None
    best_value = 0.0
    for stage in STAGES:
        value = stage_contributions.get(stage)
        if value is None or math.isnan(value):
            continue
        if value > best_value:
            best, best_value = stage, value
    return best


def explain_frame(
    model: ExplainableModel,
    frame: pd.DataFrame,
    catalogue: Mapping[str, FeatureSpec],
    *,
    lang: str = "en",
    n_reasons: int = 3,
    stages_without_data: Sequence[str] = (),
    render: Renderer | None = None,
) -> list[Explanation]:
    """Explain the model's score for every row of ``frame``.

    Parameters
    ----------
    model
        A fitted model (``feature_names``, ``predict_proba``,
        ``predict_contributions``).
    frame
        Feature rows; a ``partner_id`` column names the partners (else the index).
    catalogue
        The feature catalogue (stage and reason templates of every feature).
    lang
        Language of the reasons: ``"en"`` or ``"ja"``.
    n_reasons
        How many reasons to give at most per partner.
    stages_without_data
        Stages whose source tables the dataset lacks.
    render
        Sentence renderer; default ``ghost_model.features.render_reason``.

    Returns
    -------
    list of Explanation
        One per row of ``frame``, in order.
    """
    check_lang(lang)
    if n_reasons < 0:
        raise ConfigError(f"n_reasons must be 0 or more, got {n_reasons!r}")
    render = render or default_renderer()
    by_id = frame.index.name == "partner_id" and "partner_id" not in frame.columns
    rows = frame.reset_index(drop=not by_id)
    rows, catalogue = with_derived_inputs(model, rows, catalogue)

    contributions = feature_contributions(model, rows)
    stage_sums = sum_by_stage(contributions, catalogue, stages_without_data)
    probability = np.asarray(model.predict_proba(rows), dtype=float)
    features = [c for c in contributions.columns if c != BIAS]
    reasons = rank_reasons(
        contributions[features],
        rows,
        catalogue,
        lang,
        n_reasons,
        stages_without_data,
        render,
    )

    ids = partner_ids(rows)
    raw = contributions.sum(axis=1).to_numpy()
    bias = contributions[BIAS].to_numpy(dtype=float)
    stage_ids = [str(c) for c in stage_sums.columns]
    stage_values = stage_sums.to_numpy(dtype=float)
    out = []
    for i in range(len(rows)):
        stages = {s: none_if_nan(stage_values[i, j]) for j, s in enumerate(stage_ids)}
        out.append(
            Explanation(
                partner_id=ids[i],
                probability=float(probability[i]),
                raw_score=float(raw[i]),
                base_value=float(bias[i]),
                stage_contributions=stages,
                driving_stage=pick_driving_stage(stages),
                reasons=reasons[i],
            )
        )
    logger.debug("explained %d rows in %s", len(out), lang)
    return out


def rank_reasons(
    contributions: pd.DataFrame,
    rows: pd.DataFrame,
    catalogue: Mapping[str, FeatureSpec],
    lang: str,
    n_reasons: int,
    stages_without_data: Sequence[str],
    render: Renderer,
) -> list[list[Reason]]:
    """The features pushing each row's risk up most, rendered as reasons.

    Parameters
    ----------
    contributions
        Per-feature contributions (no bias column), positionally aligned with
        ``rows``.
    rows
        The feature rows, for the numbers in the sentences.
    catalogue
        The feature catalogue.
    lang
        ``"en"`` or ``"ja"``.
    n_reasons
        Maximum reasons per row.
    stages_without_data
        Stages that give no reasons (``context`` never does: the month or the tier
        is not something a partner manager can act on).
    render
        Sentence renderer.

    Returns
    -------
    list of list of Reason
        Per row, at most ``n_reasons`` reasons with positive contribution, largest
        first, one per signal (:func:`signal_family`): of ``portal_views_30d`` and
        ``portal_views_90d`` only the one pushing more is given. A feature whose value
        is missing for the row gives no reason: its sentence would have no number.
    """
    names = [str(c) for c in contributions.columns]
    stage_of = stages_of(names, catalogue)
    no_data = {*stages_without_data, "context"}
    allowed = np.array([stage_of[name] not in no_data for name in names])
    values = contributions.to_numpy(dtype=float, copy=True)
    values[:, ~allowed] = -np.inf
    order = np.argsort(-values, axis=1, kind="stable")
    families = [signal_family(name) for name in names]
    records = [
        {str(k): v for k, v in record.items()}
        for record in rows.to_dict(orient="records")
    ]
    out: list[list[Reason]] = []
    for i, ranked in enumerate(order):
        reasons: list[Reason] = []
        seen: set[str] = set()
        for j in ranked:
            if len(reasons) == n_reasons or not values[i, j] > 0:
                break
            name = names[j]
            if families[j] in seen or pd.isna(records[i].get(name)):
                continue
            seen.add(families[j])
            reasons.append(
                Reason(
                    feature=name,
                    stage=stage_of[name],
                    contribution=float(values[i, j]),
                    value=json_safe(records[i].get(name)),
                    text=render(catalogue[name], records[i], lang),
                )
            )
        out.append(reasons)
    return out


def signal_family(feature: str) -> str:
    """The signal a feature measures, without its window.

    ``portal_views_30d``, ``portal_views_90d`` and ``portal_views_trend_90d`` all
    measure ``portal_views``; a partner's reasons name each signal once, in the
    form that pushes risk most.
    """
    return _WINDOW_SUFFIX.sub("", feature)


_WINDOW_SUFFIX = re.compile(r"_(?:prev_|trend_|change_)?\d+d$")


def default_renderer() -> Renderer:
    """The catalogue's sentence renderer, ``ghost_model.features.render_reason``."""
    from ghost_model.features import render_reason

    renderer: Renderer = render_reason
    return renderer


def partner_ids(rows: pd.DataFrame) -> list[str]:
    """Partner ids of ``rows``: the ``partner_id`` column, else the index."""
    if "partner_id" in rows.columns:
        return [str(v) for v in rows["partner_id"]]
    return [str(v) for v in rows.index]


def none_if_nan(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing."""
    if value is None or pd.isna(value):
        return None
    return float(value)


def json_safe(value: Any) -> Any:
    """``value`` as a JSON-safe scalar: NaN/NA/inf become None, numpy types Python.

    Parameters
    ----------
    value
        A scalar from a DataFrame.

    Returns
    -------
    object
        None, bool, int, float, or str.
    """
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if value is pd.NaT else value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


NO_DRIVER = "none"
"""Column of the stage-check matrix for scores with no driving stage."""


def compare_with_cause(
    scores: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    timezone: str,
    band: str = "high",
) -> pd.DataFrame:
    """Driving stage against the simulated root stage, for partners in decline.

    A scored row counts when its partner's decline episode started before the
    cutoff, the episode did not end in a recovery (the truth does not say when a
    recovery happened, so such partners may already be healthy again), and its
    risk band is ``band``.

    Parameters
    ----------
    scores
        One row per scored (partner, cutoff): ``partner_id``, ``as_of`` (ISO date in
        the dataset's zone), ``risk_band``, ``driving_stage`` (empty or None when no
        stage drives). Rows of several cutoffs may be pooled.
    truth
        The simulator's truth: ``partner_id``, ``decline_start`` (UTC instant,
        missing without an episode), ``root_stage``, ``recovered``.
    timezone
        The dataset's time zone, in which ``as_of`` dates are read.
    band
        The risk band to check.

    Returns
    -------
    pandas.DataFrame
        Counts with the root stage in rows (``STAGES``) and the driving stage in
        columns (``STAGES`` and ``"none"``); zeros where nothing fell.
    """
    missing = {"partner_id", "decline_start", "root_stage", "recovered"} - set(truth)
    if missing:
        raise ConfigError(
            f"the truth table lacks column(s) {sorted(missing)!r}; expected the "
            "simulator's truth.csv"
        )
    episodes = truth[truth["decline_start"].notna()].copy()
    episodes = episodes[~episodes["recovered"].fillna(False).astype(bool)]
    episodes["partner_id"] = episodes["partner_id"].astype(str)
    start = pd.to_datetime(episodes["decline_start"], utc=True).dt.tz_convert(timezone)
    episodes["start_day"] = start.dt.tz_localize(None).dt.normalize()

    rows = scores[scores["risk_band"] == band].copy()
    rows["partner_id"] = rows["partner_id"].astype(str)
    rows["day"] = pd.to_datetime(rows["as_of"].astype(str))
    joined = rows.merge(
        episodes[["partner_id", "start_day", "root_stage"]], on="partner_id"
    )
    joined = joined[joined["start_day"] < joined["day"]]
    driver = joined["driving_stage"].fillna("").astype(str).replace("", NO_DRIVER)

    matrix = pd.crosstab(joined["root_stage"].astype(str), driver)
    matrix = matrix.reindex(index=list(STAGES), columns=[*STAGES, NO_DRIVER])
    matrix = matrix.fillna(0).astype(int)
    matrix.index.name, matrix.columns.name = "root_stage", "driving_stage"
    return matrix


def agreement_share(matrix: pd.DataFrame) -> float:
    """Share of the rows of a :func:`compare_with_cause` matrix on its diagonal.

    Parameters
    ----------
    matrix
        Counts, root stage by driving stage.

    Returns
    -------
    float
        Diagonal over total; NaN when the matrix is empty.
    """
    total = int(matrix.to_numpy().sum())
    if total == 0:
        return math.nan
    stages = [s for s in STAGES if s in matrix.index and s in matrix.columns]
    agree = int(np.trace(matrix.loc[stages, stages].to_numpy()))
    return agree / total
