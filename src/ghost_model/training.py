"""Fitting the partner-risk model: LightGBM trees, then a calibration fitted later.

The labelled rows of a feature table (one per partner and cutoff) are split by time
into the earlier cutoffs and the last ``calibration_cutoffs`` ones:

1. BG/NBD is fitted on the deal-history summary of the training rows (no label is
   used); the model derives the BG/NBD probability of silence as one more input.
2. Trees are fitted on the earlier cutoffs; the later ones, which these trees never
   saw, choose the number of trees (early stopping on PR-AUC, when enabled) and
   fit a Platt scaling of the trees' log-odds.
3. With ``blend``, a logistic regression on the same inputs (transformed like the
   logistic-regression baseline) is fitted on the same earlier cutoffs, and the
   weight ``w`` of ``w * trees + (1 - w) * linear`` (log-odds) is the one, on a
   grid of steps of 0.05, with the best PR-AUC on the later cutoffs; the Platt
   scaling is fitted on that blend.
4. With ``refit_all``, the trees (and the linear part) are fitted again on every
   labelled cutoff with that number of trees, so the most recent cutoffs inform
   the ranking too; the blend weight and Platt scaling measured on held-out rows
   are kept.

Platt scaling is monotone, so calibration changes the probabilities but never the
ranking of partners.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from ghost_model.baselines import fit_bgnbd, fit_logistic, logistic_input
from ghost_model.errors import ConfigError
from ghost_model.model import (
    DEAL_RHYTHM_INPUTS,
    DealRhythm,
    LinearPart,
    PartnerRiskModel,
    category_levels,
    history_summary,
    input_matrix,
    input_names,
    with_derived,
)

log = logging.getLogger(__name__)

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.02,
    "num_leaves": 15,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 8,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 7,
    "verbosity": -1,
}
"""LightGBM settings: small leaves with many rows each, strong L2 and feature
subsampling, many slow trees — chosen on the demo backtest among six settings."""

BLEND_GRID = np.round(np.arange(0.0, 1.0 + 1e-9, 0.05), 2)
"""Candidate weights of the trees in the blend with the linear part."""


@dataclass(frozen=True)
class TrainConfig:
    """How the model is fitted and backtested.

    Parameters
    ----------
    horizon_days
        Label horizon: silent = no deal in ``[t, t + horizon_days)``.
    folds
        Number of monthly test cutoffs of the rolling-origin backtest.
    calibration_cutoffs
        Number of last labelled cutoffs of a training set kept for calibration (and
        for early stopping).
    num_boost_round
        Number of trees; the most trees when early stopping is on.
    params
        LightGBM parameters (copied; defaults in :data:`DEFAULT_PARAMS`).
    depths
        Shares of partners, by risk, for precision, recall and lift.
    early_stopping_rounds
        Stop adding trees when PR-AUC on the calibration cutoffs has not improved
        for this many rounds; 0 keeps ``num_boost_round`` trees.
    refit_all
        Refit the trees on every labelled cutoff (calibration cutoffs included)
        with the number of trees found, keeping the held-out calibration.
    deal_rhythm
        Derive the BG/NBD probability of silence (``deal_rhythm_p_silent``) as an
        input when the frame holds the deal-history features it needs.
    monotone
        Direction the risk must move in as a feature grows (``1`` up, ``-1``
        down), for features where that direction is certain; others are free.
    blend
        Blend the trees' log-odds with a logistic regression's on the same inputs,
        the weight chosen on the calibration cutoffs.
    """

    horizon_days: int = 90
    folds: int = 6
    calibration_cutoffs: int = 1
    num_boost_round: int = 500
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    depths: tuple[float, ...] = (0.1, 0.2)
    early_stopping_rounds: int = 0
    refit_all: bool = True
    deal_rhythm: bool = True
    monotone: dict[str, int] = field(default_factory=dict)
    blend: bool = True

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ConfigError(f"horizon_days must be >= 1, got {self.horizon_days!r}")
        if self.folds < 1:
            raise ConfigError(f"folds must be >= 1, got {self.folds!r}")
        if self.calibration_cutoffs < 1:
            raise ConfigError(
                f"calibration_cutoffs must be >= 1, got {self.calibration_cutoffs!r}"
            )
        if self.num_boost_round < 1:
            raise ConfigError(
                f"num_boost_round must be >= 1, got {self.num_boost_round!r}"
            )
        if self.early_stopping_rounds < 0:
            raise ConfigError(
                "early_stopping_rounds must be >= 0 (0 = off), got "
                f"{self.early_stopping_rounds!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON values (inverse of :meth:`from_dict`)."""
        return {
            "horizon_days": self.horizon_days,
            "folds": self.folds,
            "calibration_cutoffs": self.calibration_cutoffs,
            "num_boost_round": self.num_boost_round,
            "params": dict(self.params),
            "depths": list(self.depths),
            "early_stopping_rounds": self.early_stopping_rounds,
            "refit_all": self.refit_all,
            "deal_rhythm": self.deal_rhythm,
            "monotone": dict(self.monotone),
            "blend": self.blend,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A configuration from :meth:`to_dict` output.

        Keys an older model did not record keep their value of that time: no early
        stopping, no refit, no derived deal rhythm, no blend.
        """
        known = {
            "early_stopping_rounds": 0,
            "refit_all": False,
            "deal_rhythm": False,
            "blend": False,
        } | dict(values)
        known["depths"] = tuple(known.get("depths", (0.1, 0.2)))
        return cls(**known)

    def to_params(self) -> dict[str, Any]:
        """Everything that defines a fit, flat, for MLflow and model metadata."""
        flat: dict[str, Any] = {
            "horizon_days": self.horizon_days,
            "folds": self.folds,
            "calibration_cutoffs": self.calibration_cutoffs,
            "num_boost_round": self.num_boost_round,
            "depths": ",".join(f"{d:g}" for d in self.depths),
            "early_stopping_rounds": self.early_stopping_rounds,
            "refit_all": self.refit_all,
            "deal_rhythm": self.deal_rhythm,
            "monotone": ",".join(f"{k}:{v:+d}" for k, v in self.monotone.items()),
            "blend": self.blend,
        }
        flat.update({f"lgb_{k}": v for k, v in self.params.items()})
        return flat


def categorical_features(frame: pd.DataFrame, feature_names: list[str]) -> list[str]:
    """The features held as text (pandas string, object or category columns)."""
    out = []
    for name in feature_names:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
        ):
            out.append(name)
    return out


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows whose label is known."""
    return frame[frame["label"].notna()]


def split_for_calibration(
    frame: pd.DataFrame, calibration_cutoffs: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split labelled rows into (tree rows, later calibration rows) by cutoff."""
    cutoffs = sorted(frame["as_of"].unique())
    if len(cutoffs) < calibration_cutoffs + 1:
        raise ConfigError(
            f"training needs at least {calibration_cutoffs + 1} labelled cutoffs "
            f"({calibration_cutoffs} for calibration), got {len(cutoffs)}; "
            "use a longer dataset or fewer calibration cutoffs"
        )
    first_calibration = cutoffs[-calibration_cutoffs]
    early = frame["as_of"] < first_calibration
    return frame[early], frame[~early]


def fit_model(
    frame: pd.DataFrame,
    feature_names: list[str],
    config: TrainConfig | None = None,
    metadata: dict[str, Any] | None = None,
) -> PartnerRiskModel:
    """Fit trees on earlier cutoffs, a Platt calibration on later ones, then refit.

    The metadata records ``holdout_tree_cutoffs`` (the trees the calibration was
    measured on), ``calibration_cutoffs`` and ``tree_cutoffs`` (the final trees:
    every labelled cutoff with ``refit_all``).

    Parameters
    ----------
    frame
        Feature table rows (``as_of``, features, ``label``); unlabelled rows are
        ignored.
    feature_names
        The feature columns to learn from.
    config
        Fit settings; defaults to :class:`TrainConfig`.
    metadata
        Extra metadata stored in the model.

    Returns
    -------
    PartnerRiskModel
        The calibrated model.
    """
    config = config or TrainConfig()
    rows = labelled(frame)
    tree_rows, calibration_rows = split_for_calibration(
        rows, config.calibration_cutoffs
    )
    categorical = categorical_features(rows, feature_names)
    levels = {name: category_levels(tree_rows[name]) for name in categorical}
    inputs = ModelInputs(
        feature_names, levels, fit_deal_rhythm(rows, feature_names, config)
    )

    booster = fit_booster(tree_rows, inputs, config, calibration_rows)
    trees = booster.num_trees()
    raw = np.asarray(booster.predict(inputs.matrix(calibration_rows), raw_score=True))
    linear = fit_linear_part(tree_rows, inputs) if config.blend else None
    weight = 1.0
    if linear is not None:
        linear_raw = linear.predict_raw(inputs.with_derived(calibration_rows))
        weight = choose_blend_weight(raw, linear_raw, label_array(calibration_rows))
        raw = weight * raw + (1.0 - weight) * linear_raw
    calibration = fit_platt(raw, label_array(calibration_rows))
    final_rows = rows if config.refit_all else tree_rows
    if config.refit_all:
        booster = fit_booster(rows, inputs, replace(config, num_boost_round=trees))
        linear = fit_linear_part(rows, inputs) if config.blend else None

    info: dict[str, Any] = {
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tree_rows": len(final_rows),
        "calibration_rows": len(calibration_rows),
        "tree_cutoffs": cutoff_texts(final_rows),
        "holdout_tree_cutoffs": cutoff_texts(tree_rows),
        "calibration_cutoffs": cutoff_texts(calibration_rows),
        "trees": trees,
        "blend_weight": weight,
        "params": config.to_params(),
        "config": config.to_dict(),
    }
    info.update(metadata or {})
    log.debug(
        "fitted %d trees on %d rows, calibrated on %d rows",
        trees,
        info["tree_rows"],
        len(calibration_rows),
    )
    return PartnerRiskModel(
        booster,
        feature_names,
        levels,
        calibration,
        info,
        inputs.deal_rhythm,
        linear=linear,
        blend_weight=weight,
    )


@dataclass(frozen=True)
class ModelInputs:
    """What the booster reads: features, their category levels, derived inputs."""

    feature_names: list[str]
    levels: dict[str, list[str]]
    deal_rhythm: DealRhythm | None

    @property
    def names(self) -> list[str]:
        """The booster's input columns, in order."""
        return input_names(self.feature_names, self.deal_rhythm)

    def matrix(self, rows: pd.DataFrame) -> np.ndarray:
        """``rows`` encoded as the booster's float matrix."""
        return input_matrix(rows, self.feature_names, self.levels, self.deal_rhythm)

    def with_derived(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` with the derived inputs added."""
        return with_derived(rows, self.feature_names, self.deal_rhythm)


def fit_linear_part(rows: pd.DataFrame, inputs: ModelInputs) -> LinearPart:
    """Fit the logistic-regression baseline's pipeline on the booster's inputs.

    The fitted transform and coefficients are read out of the scikit-learn
    pipeline into a :class:`LinearPart`, which scores without scikit-learn.
    """
    full = inputs.with_derived(rows)
    categorical = [n for n in inputs.names if n in inputs.levels]
    numeric = [n for n in inputs.names if n not in inputs.levels]
    pipeline = fit_logistic(full, label_array(rows), numeric, categorical)
    transform = pipeline.named_steps["features"]
    numeric_steps = transform.named_transformers_["num"]
    imputer = numeric_steps.named_steps["simpleimputer"]
    scaler = numeric_steps.named_steps["standardscaler"]
    flagged = imputer.indicator_.features_ if imputer.indicator_ is not None else []
    levels: dict[str, list[str]] = {}
    if categorical:
        encoder = transform.named_transformers_["cat"]
        levels = {
            name: [str(v) for v in values]
            for name, values in zip(categorical, encoder.categories_, strict=True)
        }
    regression = pipeline.named_steps["model"]
    columns = np.asarray(
        transform.transform(logistic_input(full, numeric, categorical))
    )
    return LinearPart(
        numeric=numeric,
        categorical=categorical,
        medians=[float(v) for v in np.nan_to_num(imputer.statistics_, nan=0.0)],
        indicators=[numeric[int(i)] for i in flagged],
        centres=[float(v) for v in scaler.mean_],
        scales=[float(v) for v in scaler.scale_],
        levels=levels,
        coefs=[float(v) for v in regression.coef_[0]],
        intercept=float(regression.intercept_[0]),
        means=[float(v) for v in columns.mean(axis=0)],
    )


def choose_blend_weight(
    tree_raw: np.ndarray, linear_raw: np.ndarray, label: np.ndarray
) -> float:
    """The trees' weight in the blend with the best PR-AUC on held-out rows.

    Candidates are :data:`BLEND_GRID`; the smallest weight wins a tie. A single
    class in ``label`` keeps the trees alone (weight 1).
    """
    if len(np.unique(label)) < 2:
        return 1.0
    scores = [
        average_precision_score(label, w * tree_raw + (1.0 - w) * linear_raw)
        for w in BLEND_GRID
    ]
    weight = float(BLEND_GRID[int(np.argmax(scores))])
    log.debug("blend weight of the trees: %.2f (PR-AUC %.4f)", weight, max(scores))
    return weight


def cutoff_texts(rows: pd.DataFrame) -> list[str]:
    """The distinct cutoffs of ``rows``, oldest first, as text."""
    return [str(c) for c in sorted(rows["as_of"].unique())]


def fit_deal_rhythm(
    rows: pd.DataFrame, feature_names: list[str], config: TrainConfig
) -> DealRhythm | None:
    """BG/NBD fitted on the training rows' deal histories, or None when not used.

    Used when ``config.deal_rhythm`` is set and ``feature_names`` hold the three
    deal-history features; every labelled row counts as one history (a partner
    appears once per cutoff). No label is read.
    """
    if not config.deal_rhythm:
        return None
    absent = [name for name in DEAL_RHYTHM_INPUTS if name not in feature_names]
    if absent:
        log.info("no derived deal rhythm: features %r are not in the model", absent)
        return None
    x, t_x, age = history_summary(rows)
    fitted = fit_bgnbd(x, t_x, age)
    return DealRhythm(
        r=fitted.r,
        alpha=fitted.alpha,
        a=fitted.a,
        b=fitted.b,
        horizon_days=float(config.horizon_days),
    )


def fit_booster(
    rows: pd.DataFrame,
    inputs: ModelInputs,
    config: TrainConfig,
    validation: pd.DataFrame | None = None,
) -> lgb.Booster:
    """Fit the LightGBM booster on ``rows`` for ``inputs``.

    With
    ``validation`` rows and ``config.early_stopping_rounds``, trees stop being added
    once their PR-AUC on ``validation`` stops improving, and the best count is kept.
    """
    label = label_array(rows)
    if len(np.unique(label)) < 2:
        raise ConfigError(
            f"training rows hold only label {label[:1].tolist()!r}; the model needs "
            "both silent and active partners — use more cutoffs or partners"
        )
    train_set = booster_dataset(rows, inputs)
    params = dict(config.params)
    directions = [int(config.monotone.get(name, 0)) for name in inputs.names]
    if any(directions):
        params["monotone_constraints"] = directions
    stopping = config.early_stopping_rounds
    if validation is None or not stopping or validation["label"].nunique() < 2:
        return lgb.train(params, train_set, num_boost_round=config.num_boost_round)
    params["metric"] = "average_precision"
    valid_set = booster_dataset(validation, inputs, reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=config.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(stopping, first_metric_only=True, verbose=False)],
    )
    best = max(booster.best_iteration, 1)
    log.debug(
        "early stopping kept %d of at most %d trees", best, config.num_boost_round
    )
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def booster_dataset(
    rows: pd.DataFrame, inputs: ModelInputs, reference: lgb.Dataset | None = None
) -> lgb.Dataset:
    """A LightGBM dataset of ``rows`` encoded for ``inputs``."""
    names = inputs.names
    categorical_index = [i for i, n in enumerate(names) if n in inputs.levels]
    return lgb.Dataset(
        inputs.matrix(rows),
        label=label_array(rows),
        feature_name=names,
        categorical_feature=categorical_index or "auto",
        params={"verbosity": -1},
        reference=reference,
        free_raw_data=True,
    )


def fit_platt(raw: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """Platt scaling ``(slope, intercept)`` of log-odds ``raw`` against ``label``.

    Falls back to the identity ``(1, 0)`` with a warning when the calibration rows
    hold a single class.
    """
    if len(np.unique(label)) < 2:
        log.warning(
            "calibration rows hold a single label; keeping the trees' own "
            "probabilities (identity calibration)"
        )
        return 1.0, 0.0
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(raw.reshape(-1, 1), label)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def label_array(rows: pd.DataFrame) -> np.ndarray:
    """The ``label`` column as a 0/1 integer array (rows must be labelled)."""
    return np.asarray(rows["label"].astype("int64"), dtype=np.int64)
