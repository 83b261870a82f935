"""Fitting the partner-risk model: LightGBM trees, then a calibration fitted later.

The labelled rows of a feature table (one per partner and cutoff) are split by time:
the trees learn from every cutoff before the last ``calibration_cutoffs`` labelled
cutoffs, and a Platt scaling of the trees' log-odds is fitted on those last cutoffs,
which the trees never saw. Platt scaling is monotone, so calibration changes the
probabilities but never the ranking of partners.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from ghost_model.errors import ConfigError
from ghost_model.model import PartnerRiskModel, category_levels, encode_features

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
        Number of last labelled cutoffs of a training set kept for calibration.
    num_boost_round
        Number of trees.
    params
        LightGBM parameters (copied; defaults in :data:`DEFAULT_PARAMS`).
    depths
        Shares of partners, by risk, for precision, recall and lift.
    """

    horizon_days: int = 90
    folds: int = 6
    calibration_cutoffs: int = 1
    num_boost_round: int = 500
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    depths: tuple[float, ...] = (0.1, 0.2)

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

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON values (inverse of :meth:`from_dict`)."""
        return {
            "horizon_days": self.horizon_days,
            "folds": self.folds,
            "calibration_cutoffs": self.calibration_cutoffs,
            "num_boost_round": self.num_boost_round,
            "params": dict(self.params),
            "depths": list(self.depths),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A configuration from :meth:`to_dict` output."""
        known = dict(values)
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
    """Fit trees on earlier cutoffs and a Platt calibration on the later ones.

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

    booster = fit_booster(tree_rows, feature_names, levels, config)
    raw = booster.predict(
        encode_features(calibration_rows, feature_names, levels), raw_score=True
    )
    calibration = fit_platt(np.asarray(raw), label_array(calibration_rows))

    info: dict[str, Any] = {
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tree_rows": len(tree_rows),
        "calibration_rows": len(calibration_rows),
        "tree_cutoffs": [str(c) for c in sorted(tree_rows["as_of"].unique())],
        "calibration_cutoffs": [
            str(c) for c in sorted(calibration_rows["as_of"].unique())
        ],
        "params": config.to_params(),
        "config": config.to_dict(),
    }
    info.update(metadata or {})
    log.debug(
        "fitted %d trees on %d rows, calibrated on %d rows",
        booster.num_trees(),
        len(tree_rows),
        len(calibration_rows),
    )
    return PartnerRiskModel(booster, feature_names, levels, calibration, info)


def fit_booster(
    rows: pd.DataFrame,
    feature_names: list[str],
    levels: dict[str, list[str]],
    config: TrainConfig,
) -> lgb.Booster:
    """Fit the LightGBM booster on ``rows`` with categories encoded by ``levels``."""
    label = label_array(rows)
    if len(np.unique(label)) < 2:
        raise ConfigError(
            f"training rows hold only label {label[:1].tolist()!r}; the model needs "
            "both silent and active partners — use more cutoffs or partners"
        )
    categorical_index = [i for i, n in enumerate(feature_names) if n in levels]
    train_set = lgb.Dataset(
        encode_features(rows, feature_names, levels),
        label=label,
        feature_name=list(feature_names),
        categorical_feature=categorical_index or "auto",
        params={"verbosity": -1},
        free_raw_data=True,
    )
    params = dict(config.params)
    return lgb.train(params, train_set, num_boost_round=config.num_boost_round)


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
