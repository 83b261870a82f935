"""The rivals the model has to beat, measured in the same backtest.

* ``days_since_last_deal`` — what a partner-sales team watches today: the longer a
  partner has been quiet, the riskier.
* ``deal_trend`` — deals in the last 90 days against the 90 days before, as
  ``log(1 + previous) - log(1 + recent)``: a falling count is risky.
* ``logistic`` — a logistic regression on the model's own features (signed log,
  median imputation with missing indicators, standardisation, one-hot categories).
* ``bgnbd`` — the BG/NBD model of customers who leave without saying so, fitted by
  maximum likelihood on every partner's deal history before the cutoff; partners
  are ranked by their expected number of deals in the horizon (fewer = riskier), and
  its probability of silence is the model's own probability of no deal.

The rule-based scores are turned into probabilities (for Brier score and log loss)
by a one-feature logistic fit on the training rows of the same fold.

BG/NBD (Fader, Hardie and Lee, 2005): while alive a partner registers deals as a
Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after each deal it drops out
with probability ``p ~ Beta(a, b)``. A history is summarised by ``x`` (repeat deal
days), ``t_x`` (time of the last deal since the first) and ``age`` (time since the
first deal; ``T`` in the paper), all in weeks here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from ghost_model.errors import ConfigError

log = logging.getLogger(__name__)

DAY = pd.Timedelta(days=1)
WEEK_DAYS = 7.0
BASELINES: tuple[str, ...] = ("days_since_last_deal", "deal_trend", "logistic", "bgnbd")


# deal histories --------------------------------------------------------------------


def deal_history(
    deals: pd.DataFrame,
    keys: pd.DataFrame,
    timezone: str = "UTC",
    window_days: int = 90,
) -> pd.DataFrame:
    """Summarise each partner's deals before each cutoff.

    Parameters
    ----------
    deals
        The ``deals`` table (``partner_id``, ``registered_at``).
    keys
        Rows ``partner_id``, ``as_of`` to summarise.
    timezone
        The dataset's zone: deal days start at its midnight, like the cutoffs.
    window_days
        Length of the recent window and of the window before it.

    Returns
    -------
    pandas.DataFrame
        Aligned with ``keys``: ``days_since_last_deal``, ``deals_recent``,
        ``deals_previous`` and the BG/NBD summary ``x``, ``t_x``, ``age`` (weeks);
        NaN where the partner has no deal before the cutoff.
    """
    days = deal_days(deals, timezone)
    parts = []
    for as_of in sorted(keys["as_of"].unique()):
        rows = keys[keys["as_of"] == as_of]
        summary = summarise_before(days, pd.Timestamp(as_of), window_days)
        joined = rows[["partner_id"]].join(summary, on="partner_id")
        parts.append(joined.drop(columns="partner_id"))
    if not parts:
        return pd.DataFrame(
            columns=list(HISTORY_COLUMNS), index=keys.index, dtype=float
        )
    out: pd.DataFrame = pd.concat(parts).reindex(keys.index)[list(HISTORY_COLUMNS)]
    return out


HISTORY_COLUMNS = (
    "days_since_last_deal",
    "deals_recent",
    "deals_previous",
    "x",
    "t_x",
    "age",
)


def deal_days(deals: pd.DataFrame, timezone: str = "UTC") -> pd.DataFrame:
    """Deals rolled up to one row per partner and day of the dataset's zone.

    ``day`` is the UTC instant of that day's local midnight, so ``day < cutoff``
    holds exactly for the days whose deals all lie before a midnight cutoff.
    """
    at = deals["registered_at"]
    frame = pd.DataFrame({"partner_id": deals["partner_id"], "at": at}).dropna()
    local = frame["at"].dt.tz_convert(timezone).dt.floor("D", ambiguous=False)
    frame["day"] = local.dt.tz_convert("UTC")
    return (
        frame.groupby(["partner_id", "day"], sort=True)
        .agg(n=("at", "size"), last_at=("at", "max"))
        .reset_index()
    )


def summarise_before(
    days: pd.DataFrame, as_of: pd.Timestamp, window_days: int
) -> pd.DataFrame:
    """Per-partner deal summary from the deal days strictly before ``as_of``."""
    seen = days[days["day"] < as_of]
    recent_start = as_of - window_days * DAY
    previous_start = as_of - 2 * window_days * DAY
    seen = seen.assign(
        recent_n=seen["n"].where(seen["day"] >= recent_start, 0),
        previous_n=seen["n"].where(
            (seen["day"] >= previous_start) & (seen["day"] < recent_start), 0
        ),
    )
    out = seen.groupby("partner_id").agg(
        first=("day", "min"),
        last=("day", "max"),
        last_at=("last_at", "max"),
        n_days=("day", "size"),
        deals_recent=("recent_n", "sum"),
        deals_previous=("previous_n", "sum"),
    )
    out["days_since_last_deal"] = _days(as_of - out["last_at"])
    out["deals_recent"] = out["deals_recent"].astype(float)
    out["deals_previous"] = out["deals_previous"].astype(float)
    out["x"] = out["n_days"] - 1.0
    out["t_x"] = _days(out["last"] - out["first"]) / WEEK_DAYS
    out["age"] = _days(as_of - out["first"]) / WEEK_DAYS
    return out[list(HISTORY_COLUMNS)]


def _days(delta: pd.Series) -> pd.Series:
    days: pd.Series = delta.dt.total_seconds() / 86400.0
    return days


# rule baselines --------------------------------------------------------------------


def days_since_last_deal_score(history: pd.DataFrame) -> np.ndarray:
    """Risk by quiet time: days since the partner's last deal (higher = riskier)."""
    return np.asarray(history["days_since_last_deal"].fillna(1e6), dtype=float)


def deal_trend_score(history: pd.DataFrame) -> np.ndarray:
    """Risk by falling deal count: ``log1p(previous) - log1p(recent)``."""
    previous = history["deals_previous"].fillna(0.0)
    recent = history["deals_recent"].fillna(0.0)
    return np.asarray(np.log1p(previous) - np.log1p(recent), dtype=float)


@dataclass(frozen=True)
class ScoreCalibration:
    """A one-feature logistic map from a rule's score to a probability of silence."""

    centre: float
    scale: float
    model: LogisticRegression

    def predict(self, score: np.ndarray) -> np.ndarray:
        """Probabilities of silence for rule scores ``score``."""
        z = ((score - self.centre) / self.scale).reshape(-1, 1)
        return np.asarray(self.model.predict_proba(z)[:, 1], dtype=float)


def fit_score_calibration(score: np.ndarray, label: np.ndarray) -> ScoreCalibration:
    """Fit the map from a rule's score to a probability on training rows."""
    centre, scale = float(np.mean(score)), float(np.std(score)) or 1.0
    model = LogisticRegression(C=1e4, max_iter=1000)
    model.fit(((score - centre) / scale).reshape(-1, 1), label.astype(int))
    return ScoreCalibration(centre, scale, model)


# logistic regression on the features -------------------------------------------------


def signed_log(values: np.ndarray) -> np.ndarray:
    """``sign(v) * log1p(|v|)``: tames heavy-tailed counts for a linear model."""
    return np.asarray(np.sign(values) * np.log1p(np.abs(values)), dtype=float)


def fit_logistic(
    frame: pd.DataFrame, label: np.ndarray, numeric: list[str], categorical: list[str]
) -> Pipeline:
    """Fit the logistic-regression baseline on the model's features.

    Parameters
    ----------
    frame
        Training rows holding ``numeric`` and ``categorical`` columns.
    label
        1 = silent, 0 = a deal.
    numeric, categorical
        Feature columns by kind.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fitted pipeline; use :func:`predict_logistic`.
    """
    numeric_steps = make_pipeline(
        FunctionTransformer(signed_log),
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
    )
    transformers: list[tuple[str, object, list[str]]] = [
        ("num", numeric_steps, numeric)
    ]
    if categorical:
        transformers.append(
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)
        )
    pipeline = Pipeline(
        [
            ("features", ColumnTransformer(transformers)),
            ("model", LogisticRegression(C=0.5, max_iter=2000)),
        ]
    )
    pipeline.fit(logistic_input(frame, numeric, categorical), label.astype(int))
    return pipeline


def predict_logistic(
    pipeline: Pipeline, frame: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> np.ndarray:
    """Probabilities of silence from :func:`fit_logistic`'s pipeline."""
    proba = pipeline.predict_proba(logistic_input(frame, numeric, categorical))
    return np.asarray(proba[:, 1], dtype=float)


def logistic_input(
    frame: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> pd.DataFrame:
    """The columns the pipeline reads: numbers as float, missing text "(missing)"."""
    data = {c: pd.to_numeric(frame[c].astype("object")).astype(float) for c in numeric}
    for c in categorical:
        data[c] = frame[c].astype("object").where(frame[c].notna(), "(missing)")
    return pd.DataFrame(data, index=frame.index)


# BG/NBD ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BGNBD:
    """Fitted BG/NBD parameters (time unit: weeks)."""

    r: float
    alpha: float
    a: float
    b: float

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> np.ndarray:
        """Probability that a partner with this history is still active."""
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = (self.r + x) * (
                np.log(self.alpha + age) - np.log(self.alpha + t_x)
            )
            odds = np.where(
                x > 0,
                self.a / np.maximum(self.b + x - 1.0, 1e-12) * np.exp(log_ratio),
                0.0,
            )
        return np.asarray(1.0 / (1.0 + odds), dtype=float)

    def expected_deals(
        self,
        horizon: float,
        x: np.ndarray,
        t_x: np.ndarray,
        age: np.ndarray,
    ) -> np.ndarray:
        """Expected number of deal days in the next ``horizon`` weeks."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        a = a if abs(a - 1.0) > 1e-6 else 1.0 + 1e-6
        z = horizon / (alpha + age + horizon)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, z)
        decay = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + horizon)))
        alive_part = (a + b + x - 1.0) / (a - 1.0) * (1.0 - decay * hyp)
        return np.asarray(alive_part * self.p_alive(x, t_x, age), dtype=float)

    def p_no_deal(
        self,
        horizon: float,
        x: np.ndarray,
        t_x: np.ndarray,
        age: np.ndarray,
    ) -> np.ndarray:
        """Probability of no deal in the next ``horizon`` weeks.

        Drop-out happens only right after a deal, so a partner alive now registers
        none in the horizon only by its Poisson clock: ``P(dead) + P(alive) *
        ((alpha + age) / (alpha + age + h)) ** (r + x)``.
        """
        alive = self.p_alive(x, t_x, age)
        quiet = np.exp(
            (self.r + x)
            * (np.log(self.alpha + age) - np.log(self.alpha + age + horizon))
        )
        return np.asarray(1.0 - alive * (1.0 - quiet), dtype=float)


def bgnbd_log_likelihood(
    params: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
) -> np.ndarray:
    """Log-likelihood of each history under BG/NBD ``params = (r, alpha, a, b)``."""
    r, alpha, a, b = params
    head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    beta_ab = special.betaln(a, b)
    term_quiet = special.betaln(a, b + x) - beta_ab - (r + x) * np.log(alpha + age)
    with np.errstate(invalid="ignore", divide="ignore"):
        term_drop = (
            special.betaln(a + 1.0, np.maximum(b + x - 1.0, 1e-12))
            - beta_ab
            - (r + x) * np.log(alpha + t_x)
        )
    term_drop = np.where(x > 0, term_drop, -np.inf)
    return np.asarray(head + np.logaddexp(term_quiet, term_drop), dtype=float)


def fit_bgnbd(
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
) -> BGNBD:
    """Fit BG/NBD by maximum likelihood (L-BFGS-B on log-parameters).

    Parameters
    ----------
    x
        Repeat deal days per partner (distinct deal days minus one).
    t_x
        Weeks from the first to the last deal day.
    age
        Weeks from the first deal day to the cutoff.

    Returns
    -------
    BGNBD
        The fitted parameters.
    """
    x, t_x, age = (np.asarray(v, dtype=float) for v in (x, t_x, age))
    keep = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(age) & (age > 0)
    if keep.sum() < 10:
        raise ConfigError(
            f"BG/NBD needs deal histories of at least 10 partners, got {keep.sum()}; "
            "use a longer dataset or more partners"
        )
    x, t_x, age = x[keep], np.minimum(t_x[keep], age[keep]), age[keep]

    def loss(theta: np.ndarray) -> float:
        value = -np.sum(bgnbd_log_likelihood(np.exp(theta), x, t_x, age))
        return float(value) if np.isfinite(value) else 1e300

    start = np.log([1.0, max(float(np.mean(age)), 1.0), 1.0, 1.0])
    best = optimize.minimize(loss, start, method="L-BFGS-B", bounds=[(-9.0, 9.0)] * 4)
    r, alpha, a, b = np.exp(best.x)
    log.debug(
        "BG/NBD fit on %d histories: r=%.3g alpha=%.3g a=%.3g b=%.3g",
        len(x),
        r,
        alpha,
        a,
        b,
    )
    return BGNBD(r=float(r), alpha=float(alpha), a=float(a), b=float(b))
