"""The fitted partner-risk model: LightGBM trees, their categories and a calibration.

:class:`PartnerRiskModel` is the one object that scoring, explanations and the
service use. It turns a feature frame (one row per partner and cutoff) into

* ``predict_raw`` — the log-odds of silence: the trees' log-odds, blended with a
  logistic regression's when the model has a linear part,
* ``predict_proba`` — the calibrated probability of no deal within the horizon,
* ``predict_contributions`` — contributions per input plus ``bias``, whose row sums
  equal ``predict_raw``: TreeSHAP for the trees, exact for the linear part.

With a linear part (:class:`LinearPart`, a logistic regression on the same inputs)
the raw score is ``w * trees + (1 - w) * linear`` with the blend weight ``w``
stored in the model, and so are the contributions: ``w`` times LightGBM's
``pred_contrib`` plus ``1 - w`` times each input's linear term measured from its
mean on the training rows (the rest goes into ``bias``).

Categorical features (pandas string columns such as ``tier``) are encoded with the
levels seen in training, stored in the model; a level never seen in training is
treated as missing, the same way at training and at scoring time.

The model can also derive an input of its own from the feature frame:
``deal_rhythm_p_silent``, the probability of no deal in the horizon under a BG/NBD
model of the partner's deal history (see :class:`DealRhythm`), whose parameters are
fitted on the training rows and stored in the model. Training, batch scoring and the
live service therefore compute it the same way; it has a contribution and a reason
like any feature (:meth:`PartnerRiskModel.derived_catalogue`).

The model saves to a folder (``booster.txt`` in LightGBM's text format and
``model.json``) so that it can be logged to MLflow and read back without pickles.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ghost_model.baselines import BGNBD
from ghost_model.errors import DataContractError

if TYPE_CHECKING:
    from ghost_model.features.catalogue import FeatureSpec

log = logging.getLogger(__name__)

BOOSTER_FILE = "booster.txt"
MODEL_FILE = "model.json"
FORMAT_VERSION = 1

DEAL_RHYTHM_FEATURE = "deal_rhythm_p_silent"
DEAL_RHYTHM_INPUTS: tuple[str, ...] = (
    "deal_days_history",
    "days_since_first_deal",
    "days_since_last_deal",
)
WEEK_DAYS = 7.0
MISSING_LEVEL = "(missing)"


@dataclass(frozen=True)
class DealRhythm:
    """BG/NBD parameters of the partners' deal rhythm, as an input of the model.

    A partner's deal history at a cutoff is summarised by the features
    ``deal_days_history`` (days with a deal, so BG/NBD's frequency plus one),
    ``days_since_first_deal`` (age) and ``days_since_last_deal`` (recency); from
    them and the parameters ``r``, ``alpha``, ``a``, ``b`` (time unit: weeks) the
    model derives ``deal_rhythm_p_silent``, the BG/NBD probability of no deal in
    the next ``horizon_days``. A row missing any of the three is NaN (missing).
    """

    r: float
    alpha: float
    a: float
    b: float
    horizon_days: float

    def p_silent(self, frame: pd.DataFrame) -> np.ndarray:
        """``deal_rhythm_p_silent`` for each row of ``frame``."""
        x, t_x, age = history_summary(frame)
        fitted = BGNBD(r=self.r, alpha=self.alpha, a=self.a, b=self.b)
        usable = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(age) & (age > 0)
        out = np.full(len(frame), np.nan)
        if usable.any():
            out[usable] = fitted.p_no_deal(
                self.horizon_days / WEEK_DAYS, x[usable], t_x[usable], age[usable]
            )
        return out

    def to_dict(self) -> dict[str, float]:
        """The parameters as plain numbers (inverse of ``DealRhythm(**d)``)."""
        return {k: float(v) for k, v in asdict(self).items()}


def history_summary(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD's ``(x, t_x, age)`` in weeks from a feature frame's deal history.

    ``x`` is the number of repeat deal days (``deal_days_history - 1``), ``age``
    the weeks since the first deal day and ``t_x`` the weeks from the first to the
    last deal day; NaN where an input is missing.
    """
    days, first, last = (to_float(frame[c], c) for c in DEAL_RHYTHM_INPUTS)
    x = days - 1.0
    age = first / WEEK_DAYS
    t_x = np.clip(first - last, 0.0, None) / WEEK_DAYS
    return x, t_x, age


@dataclass(frozen=True)
class LinearPart:
    """A logistic regression on the model's inputs, stored as plain numbers.

    The inputs are transformed the way the logistic-regression baseline does it:
    a numeric input becomes ``sign(v) * log1p(|v|)``, missing values take the
    training median, inputs that were missing in training get a 0/1 missing
    indicator, and all of these are standardised; a categorical input becomes one
    0/1 column per level seen in training (missing is the level ``(missing)``; an
    unseen level is read as missing, as the trees do).

    Parameters
    ----------
    numeric, categorical
        Input columns by kind.
    medians
        Training median of each numeric input after the signed log.
    indicators
        Numeric inputs that have a missing-value indicator column.
    centres, scales
        Standardisation of the numeric columns: ``numeric`` then ``indicators``.
    levels
        Levels with a column, per categorical input.
    coefs
        One coefficient per column: ``numeric``, ``indicators``, then each
        categorical input's levels.
    intercept
        The regression's intercept.
    means
        Mean of each column on the training rows (for the contributions).
    """

    numeric: list[str]
    categorical: list[str]
    medians: list[float]
    indicators: list[str]
    centres: list[float]
    scales: list[float]
    levels: dict[str, list[str]]
    coefs: list[float]
    intercept: float
    means: list[float]

    def columns(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """The regression's columns for ``frame`` and the input each belongs to."""
        signed = (
            np.column_stack([signed_log(to_float(frame[c], c)) for c in self.numeric])
            if self.numeric
            else np.empty((len(frame), 0))
        )
        missing = np.isnan(signed)
        filled = np.where(missing, np.asarray(self.medians), signed)
        flags = missing[:, [self.numeric.index(c) for c in self.indicators]]
        scaled = (np.hstack([filled, flags.astype(float)]) - self.centres) / np.asarray(
            self.scales
        )
        blocks, owners = [scaled], [*self.numeric, *self.indicators]
        for name in self.categorical:
            levels = self.levels[name]
            known = set(levels)
            values = np.asarray(
                [
                    str(v) if not pd.isna(v) and str(v) in known else MISSING_LEVEL
                    for v in frame[name].astype("object")
                ],
                dtype=object,
            )
            blocks.append(
                (values[:, None] == np.asarray(levels, dtype=object)).astype(float)
            )
            owners.extend([name] * len(levels))
        return np.hstack(blocks), owners

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        """The regression's log-odds of silence for each row of ``frame``."""
        z, _ = self.columns(frame)
        return np.asarray(z @ np.asarray(self.coefs) + self.intercept, dtype=float)

    def contributions(
        self, frame: pd.DataFrame, names: Sequence[str]
    ) -> tuple[np.ndarray, float]:
        """Per-input terms ``coef * (z - mean z)`` (columns ``names``) and the bias.

        Row sums of the terms plus the bias equal :meth:`predict_raw`.
        """
        z, owners = self.columns(frame)
        coefs, means = np.asarray(self.coefs), np.asarray(self.means)
        terms = (z - means) * coefs
        out = np.zeros((len(frame), len(names)))
        position = {name: j for j, name in enumerate(names)}
        for k, owner in enumerate(owners):
            out[:, position[owner]] += terms[:, k]
        return out, float(self.intercept + coefs @ means)

    def to_dict(self) -> dict[str, Any]:
        """The part as plain JSON values (inverse of ``LinearPart(**d)``)."""
        return asdict(self)


def signed_log(values: np.ndarray) -> np.ndarray:
    """``sign(v) * log1p(|v|)``, NaN kept."""
    return np.asarray(np.sign(values) * np.log1p(np.abs(values)), dtype=float)


class PartnerRiskModel:
    """A calibrated LightGBM classifier of partner silence.

    Parameters
    ----------
    booster
        The fitted LightGBM booster; its features are ``feature_names`` in order.
    feature_names
        Feature columns the model reads, in booster order.
    categorical_levels
        For each categorical feature, the levels seen in training; a level's code is
        its position in the list.
    calibration
        Platt scaling ``(slope, intercept)``: probability =
        ``1 / (1 + exp(-(slope * raw + intercept)))``.
    metadata
        Free-form description: name, version, trained_at, backtest summary, params.
    deal_rhythm
        When given, the model derives ``deal_rhythm_p_silent`` from the frame and the
        booster reads it after ``feature_names``.
    linear
        A logistic regression on the booster's inputs, blended with the trees.
    blend_weight
        Weight ``w`` of the trees in ``w * trees + (1 - w) * linear``; 1 without
        a linear part.
    """

    def __init__(
        self,
        booster: lgb.Booster,
        feature_names: Sequence[str],
        categorical_levels: dict[str, list[str]],
        calibration: tuple[float, float],
        metadata: dict[str, Any] | None = None,
        deal_rhythm: DealRhythm | None = None,
        linear: LinearPart | None = None,
        blend_weight: float = 1.0,
    ) -> None:
        self.booster = booster
        self.feature_names: list[str] = list(feature_names)
        self.categorical_levels = {k: list(v) for k, v in categorical_levels.items()}
        self.calibration = (float(calibration[0]), float(calibration[1]))
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.deal_rhythm = deal_rhythm
        self.linear = linear
        self.blend_weight = float(blend_weight) if linear is not None else 1.0

    def __repr__(self) -> str:
        return (
            f"PartnerRiskModel(features={len(self.feature_names)}, "
            f"trees={self.booster.num_trees()}, "
            f"version={self.metadata.get('version')!r})"
        )

    @property
    def categorical_features(self) -> list[str]:
        """The feature columns encoded as categories."""
        return [f for f in self.feature_names if f in self.categorical_levels]

    @property
    def derived_names(self) -> list[str]:
        """Inputs the model computes itself from ``feature_names``."""
        return input_names([], self.deal_rhythm)

    @property
    def booster_names(self) -> list[str]:
        """Every input of the booster: ``feature_names`` then ``derived_names``."""
        return input_names(self.feature_names, self.deal_rhythm)

    def with_derived(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the model's derived inputs added (a copy when any)."""
        return with_derived(frame, self.feature_names, self.deal_rhythm)

    def derived_catalogue(self) -> dict[str, FeatureSpec]:
        """Catalogue entries (stage, unit, reason templates) of the derived inputs."""
        from ghost_model.features.catalogue import FeatureSpec

        if self.deal_rhythm is None:
            return {}
        days = f"{self.deal_rhythm.horizon_days:g}"
        field = "{" + DEAL_RHYTHM_FEATURE + ":.0%}"
        spec = FeatureSpec(
            name=DEAL_RHYTHM_FEATURE,
            stage="priority",
            level="partner",
            unit="probability",
            tables=("deals",),
            description=(
                f"Probability of no deal registration in the next {days} days under a "
                "BG/NBD model of the partner's deal history (days with a deal, days "
                "since the first and since the last deal), fitted on the training rows."
            ),
            template_en=(
                f"Deal rhythm alone (the pace of its past deals, no other signal): "
                f"{field} chance of no new deal in the next {days} days"
            ),
            template_ja=(
                f"過去の案件登録ペースだけで見た場合（他の兆候は含まず）、今後{days}日間に"
                f"新規案件が出ない見込み: {field}"
            ),
        )
        return {DEAL_RHYTHM_FEATURE: spec}

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The float matrix the booster reads, with categories encoded.

        Parameters
        ----------
        frame
            Rows to score; must hold every column of ``feature_names``.

        Returns
        -------
        numpy.ndarray
            ``float64`` array of shape ``(len(frame), len(booster_names))``.
        """
        return input_matrix(
            frame, self.feature_names, self.categorical_levels, self.deal_rhythm
        )

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        """The log-odds of silence (trees, blended with the linear part if any)."""
        if len(frame) == 0:
            return np.zeros(0)
        raw = np.asarray(
            self.booster.predict(self.matrix(frame), raw_score=True), dtype=float
        )
        if self.linear is None:
            return raw
        linear = self.linear.predict_raw(self.with_derived(frame))
        return self.blend_weight * raw + (1.0 - self.blend_weight) * linear

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """The calibrated probability that each partner registers no deal in time."""
        return calibrate(self.predict_raw(frame), self.calibration)

    def predict_contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Contributions per booster input and ``bias``; rows sum to ``predict_raw``.

        The columns are ``booster_names`` (the derived inputs included) and
        ``bias``: the trees' TreeSHAP values, blended with the linear part's exact
        terms when the model has one.
        """
        trees = self.tree_contributions(frame)
        if self.linear is None or len(frame) == 0:
            return trees
        terms, bias = self.linear.contributions(
            self.with_derived(frame), self.booster_names
        )
        w = self.blend_weight
        linear = np.hstack([terms, np.full((len(frame), 1), bias)])
        return w * trees + (1.0 - w) * linear

    def tree_contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """LightGBM's ``pred_contrib`` (TreeSHAP) of the trees alone, and ``bias``."""
        columns = [*self.booster_names, "bias"]
        if len(frame) == 0:
            return pd.DataFrame(columns=columns, index=frame.index, dtype=float)
        contrib = self.booster.predict(self.matrix(frame), pred_contrib=True)
        return pd.DataFrame(np.asarray(contrib), columns=columns, index=frame.index)

    def feature_importance(self, kind: str = "gain") -> pd.Series:
        """Total ``gain`` (or ``split`` count) of every feature, largest first."""
        values = self.booster.feature_importance(importance_type=kind)
        series = pd.Series(values, index=self.booster_names, dtype=float)
        return series.sort_values(ascending=False)

    def save(self, folder: Path) -> Path:
        """Write the model to ``folder`` (created if needed) and return it."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / BOOSTER_FILE).write_text(self.booster.model_to_string())
        document = {
            "format_version": FORMAT_VERSION,
            "feature_names": self.feature_names,
            "categorical_levels": self.categorical_levels,
            "calibration": list(self.calibration),
            "deal_rhythm": self.deal_rhythm.to_dict() if self.deal_rhythm else None,
            "linear": self.linear.to_dict() if self.linear else None,
            "blend_weight": self.blend_weight,
            "metadata": self.metadata,
        }
        (folder / MODEL_FILE).write_text(json.dumps(document, indent=2, default=str))
        return folder

    @classmethod
    def load(cls, folder: Path) -> PartnerRiskModel:
        """Read a model written by :meth:`save`."""
        document = json.loads((folder / MODEL_FILE).read_text())
        if document.get("format_version") != FORMAT_VERSION:
            raise DataContractError(
                f"{folder / MODEL_FILE}: format_version "
                f"{document.get('format_version')!r} is not {FORMAT_VERSION}; "
                "retrain the model with this version of ghost_model"
            )
        booster = lgb.Booster(model_str=(folder / BOOSTER_FILE).read_text())
        calibration = document["calibration"]
        rhythm = document.get("deal_rhythm")
        linear = document.get("linear")
        return cls(
            booster=booster,
            feature_names=document["feature_names"],
            categorical_levels=document["categorical_levels"],
            calibration=(calibration[0], calibration[1]),
            metadata=document["metadata"],
            deal_rhythm=DealRhythm(**rhythm) if rhythm else None,
            linear=LinearPart(**linear) if linear else None,
            blend_weight=float(document.get("blend_weight", 1.0)),
        )


def with_derived(
    frame: pd.DataFrame, feature_names: Sequence[str], deal_rhythm: DealRhythm | None
) -> pd.DataFrame:
    """``frame`` with ``deal_rhythm_p_silent`` added when ``deal_rhythm`` is given."""
    if deal_rhythm is None:
        return frame
    check_columns(frame, feature_names)
    return frame.assign(**{DEAL_RHYTHM_FEATURE: deal_rhythm.p_silent(frame)})


def input_names(
    feature_names: Sequence[str], deal_rhythm: DealRhythm | None
) -> list[str]:
    """The booster's inputs: the features, then the derived inputs."""
    derived = [DEAL_RHYTHM_FEATURE] if deal_rhythm is not None else []
    return [*feature_names, *derived]


def input_matrix(
    frame: pd.DataFrame,
    feature_names: Sequence[str],
    categorical_levels: dict[str, list[str]],
    deal_rhythm: DealRhythm | None,
) -> np.ndarray:
    """The float matrix a booster reads: features encoded, derived inputs added."""
    full = with_derived(frame, feature_names, deal_rhythm)
    return encode_features(
        full, input_names(feature_names, deal_rhythm), categorical_levels
    )


def calibrate(raw: np.ndarray, calibration: tuple[float, float]) -> np.ndarray:
    """Platt-scale log-odds ``raw`` into probabilities."""
    slope, intercept = calibration
    return np.asarray(1.0 / (1.0 + np.exp(-(slope * raw + intercept))), dtype=float)


def category_levels(column: pd.Series) -> list[str]:
    """The sorted distinct non-missing values of a categorical column, as text."""
    return sorted({str(v) for v in column.dropna().unique()})


def encode_features(
    frame: pd.DataFrame,
    feature_names: Sequence[str],
    categorical_levels: dict[str, list[str]],
) -> np.ndarray:
    """Encode ``frame``'s features as a float matrix in ``feature_names`` order.

    Numeric columns of any dtype (nullable integers with ``<NA>``, booleans, objects
    holding numbers) become ``float64`` with NaN for missing. Categorical columns
    become the position of their level in ``categorical_levels``; a missing or
    unseen level becomes NaN, which LightGBM treats as missing.

    Parameters
    ----------
    frame
        The rows to encode.
    feature_names
        The columns to read, in order.
    categorical_levels
        Known levels of every categorical feature.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(len(frame), len(feature_names))``.
    """
    check_columns(frame, feature_names)
    out = np.empty((len(frame), len(feature_names)), dtype=float)
    for j, name in enumerate(feature_names):
        column = frame[name]
        if name in categorical_levels:
            out[:, j] = encode_category(column, categorical_levels[name])
        else:
            out[:, j] = to_float(column, name)
    return out


def check_columns(frame: pd.DataFrame, feature_names: Sequence[str]) -> None:
    """Raise when ``frame`` lacks a column of ``feature_names``."""
    missing = [name for name in feature_names if name not in frame.columns]
    if missing:
        raise DataContractError(
            f"feature frame: columns {missing!r} are missing; the model was trained "
            "with them — build the features from a dataset holding the same tables"
        )


def encode_category(column: pd.Series, levels: list[str]) -> np.ndarray:
    """Codes of ``column`` against ``levels``; missing and unseen values are NaN."""
    lookup = {level: float(code) for code, level in enumerate(levels)}
    text = column.astype("object")
    codes = [np.nan if pd.isna(v) else lookup.get(str(v), np.nan) for v in text]
    return np.asarray(codes, dtype=float)


def to_float(column: pd.Series, name: str) -> np.ndarray:
    """``column`` as float64 with NaN for any missing marker."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return np.asarray(column.astype("float64"), dtype=float)
    try:
        numbers = pd.to_numeric(column.astype("object"), errors="raise")
    except (ValueError, TypeError) as exc:
        example = column.dropna().iloc[0] if column.notna().any() else None
        raise DataContractError(
            f"feature frame: column {name!r} should be numeric, got dtype "
            f"{column.dtype} with value {example!r}; the model reads it as a number"
        ) from exc
    return np.asarray(numbers, dtype=float)
