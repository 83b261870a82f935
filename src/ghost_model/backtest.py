"""Rolling-origin backtest of the model against the baselines, and the lead time.

For each of the last ``folds`` labelled monthly cutoffs (the test cutoff ``c``) the
model is trained only on cutoffs ``a`` whose label window has ended by then
(``a + horizon <= c``), so no outcome the test rows are judged on is known to the
fit. Every baseline is fitted and scored on the same rows. Per fold and on average
the backtest reports ROC-AUC, PR-AUC (average precision), Brier score, log loss,
and precision, recall and lift in the top 10% and 20% of partners by risk.

The early-warning lead time compares the model with the rule a sales team uses
("no deal for 90 days"): at each test cutoff the model's threshold is set so that
its precision matches the rule's precision on that cutoff; for each partner the
rule flags and who then stays silent, the lead time is the number of days between
the first cutoff after its last deal at which the model flagged it and the cutoff
at which the rule fired.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

from ghost_model import baselines
from ghost_model.errors import ConfigError
from ghost_model.training import (
    TrainConfig,
    categorical_features,
    fit_model,
    label_array,
    labelled,
)

log = logging.getLogger(__name__)

DAY = pd.Timedelta(days=1)
RULE_QUIET_DAYS = 90
METHODS: tuple[str, ...] = ("model", *baselines.BASELINES)


@dataclass(frozen=True)
class Fold:
    """One backtest fold: a test cutoff and the cutoffs the fit may use."""

    test_cutoff: pd.Timestamp
    train_cutoffs: tuple[pd.Timestamp, ...]


@dataclass
class BacktestResult:
    """Everything a backtest measured.

    ``metrics`` has one row per (fold, method) with the metric columns;
    ``predictions`` one row per test row with ``<method>_score`` (higher = riskier)
    and ``<method>_proba`` columns; ``lead_time`` the early-warning summary.
    """

    folds: list[Fold]
    metrics: pd.DataFrame
    predictions: pd.DataFrame
    lead_time: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    def mean_metrics(self) -> pd.DataFrame:
        """Mean of every metric per method over the folds (methods as rows)."""
        numeric = self.metrics.drop(columns=["fold", "test_cutoff"])
        return numeric.groupby("method", sort=False).mean()

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary: mean metrics per method and the lead time."""
        means = self.mean_metrics()
        return {
            "folds": [str(f.test_cutoff) for f in self.folds],
            "mean": {
                m: {k: float(v) for k, v in row.items()} for m, row in means.iterrows()
            },
            "lead_time": self.lead_time,
        }


# folds -----------------------------------------------------------------------------


def make_folds(
    cutoffs: list[pd.Timestamp], horizon_days: int, folds: int, min_train: int
) -> list[Fold]:
    """The rolling-origin folds over the labelled ``cutoffs``.

    Parameters
    ----------
    cutoffs
        Labelled cutoffs (any order).
    horizon_days
        Label horizon; a training cutoff ``a`` needs ``a + horizon <= test``.
    folds
        How many of the last cutoffs to test on.
    min_train
        Fewest training cutoffs a fold needs; earlier test cutoffs are skipped.

    Returns
    -------
    list of Fold
        Oldest first; at most ``folds``.
    """
    ordered = sorted(pd.Timestamp(c) for c in set(cutoffs))
    horizon = horizon_days * DAY
    out = []
    for test in ordered[-folds:]:
        train = tuple(c for c in ordered if c + horizon <= test)
        if len(train) < min_train:
            log.warning(
                "skipping test cutoff %s: only %d training cutoffs end their label "
                "window before it, %d needed",
                test.date(),
                len(train),
                min_train,
            )
            continue
        out.append(Fold(test_cutoff=test, train_cutoffs=train))
    if not out:
        raise ConfigError(
            f"no backtest fold possible over {len(ordered)} labelled cutoffs with a "
            f"{horizon_days}-day horizon and {min_train} training cutoffs per fold; "
            "use a longer dataset or fewer folds"
        )
    return out


def model_pr_auc(
    table: pd.DataFrame,
    feature_names: list[str],
    folds: list[Fold],
    config: TrainConfig,
    fit: Callable[..., Any] = fit_model,
) -> list[float]:
    """PR-AUC per fold of a model fitted with ``config`` on given ``folds``.

    Used to score another model recipe (e.g. the champion's) on exactly the
    folds of a backtest, without the baselines.
    """
    rows = labelled(table)
    out = []
    for fold in folds:
        train = rows[rows["as_of"].isin(fold.train_cutoffs)]
        test = rows[rows["as_of"] == fold.test_cutoff]
        model = fit(train, feature_names, config)
        label = label_array(test)
        out.append(float(average_precision_score(label, model.predict_proba(test))))
    return out


# metrics ---------------------------------------------------------------------------


def top_share(score: np.ndarray, share: float) -> np.ndarray:
    """Boolean mask of the ``ceil(share * n)`` highest scores (stable on ties)."""
    n = len(score)
    k = max(1, int(np.ceil(share * n)))
    order = np.argsort(-score, kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def classification_metrics(
    label: np.ndarray, score: np.ndarray, proba: np.ndarray, depths: tuple[float, ...]
) -> dict[str, float]:
    """Ranking metrics of ``score`` and probability metrics of ``proba``.

    Parameters
    ----------
    label
        1 = silent, 0 = a deal.
    score
        Risk ranking (higher = riskier).
    proba
        Probability of silence.
    depths
        Shares of rows for precision, recall and lift.

    Returns
    -------
    dict
        ``roc_auc``, ``pr_auc``, ``brier``, ``log_loss`` and ``precision_at_<d>``,
        ``recall_at_<d>``, ``lift_at_<d>`` for each depth in percent.
    """
    both = len(np.unique(label)) == 2
    clipped = np.clip(proba, 1e-6, 1 - 1e-6)
    base = float(np.mean(label)) if len(label) else float("nan")
    out = {
        "roc_auc": float(roc_auc_score(label, score)) if both else float("nan"),
        "pr_auc": float(average_precision_score(label, score))
        if both
        else float("nan"),
        "brier": float(brier_score_loss(label, clipped)),
        "log_loss": float(log_loss(label, clipped, labels=[0, 1])),
        "base_rate": base,
    }
    positives = max(int(label.sum()), 1)
    for depth in depths:
        top = top_share(score, depth)
        hits = int(label[top].sum())
        precision = hits / top.sum()
        tag = f"{round(depth * 100)}"
        out[f"precision_at_{tag}"] = precision
        out[f"recall_at_{tag}"] = hits / positives
        out[f"lift_at_{tag}"] = precision / base if base > 0 else float("nan")
    return out


# the backtest ----------------------------------------------------------------------


def run_backtest(
    table: pd.DataFrame,
    feature_names: list[str],
    deals: pd.DataFrame,
    timezone: str = "UTC",
    config: TrainConfig | None = None,
    fit: Callable[..., Any] = fit_model,
) -> BacktestResult:
    """Backtest the model and every baseline on rolling-origin folds.

    Parameters
    ----------
    table
        The feature table (``partner_id``, ``as_of``, features, ``label``).
    feature_names
        Feature columns of ``table``.
    deals
        The dataset's ``deals`` table, for the deal-history baselines.
    timezone
        The dataset's zone (deal days start at its midnight, like the cutoffs).
    config
        Fit and backtest settings.
    fit
        The model-fitting function (``fit_model`` signature).

    Returns
    -------
    BacktestResult
        Metrics per fold and method, out-of-fold predictions, the lead time.
    """
    config = config or TrainConfig()
    rows = labelled(table).copy()
    history = baselines.deal_history(
        deals, rows[["partner_id", "as_of"]], timezone, RULE_QUIET_DAYS
    )
    rows = rows.join(history.add_prefix("hist_"))
    days = baselines.deal_days(deals, timezone)
    folds = make_folds(
        list(rows["as_of"].unique()),
        config.horizon_days,
        config.folds,
        min_train=config.calibration_cutoffs + 1,
    )

    metric_rows: list[dict[str, Any]] = []
    predictions: list[pd.DataFrame] = []
    seconds: dict[str, float] = {}
    for number, fold in enumerate(folds, start=1):
        started = time.perf_counter()
        scored = score_fold(rows, fold, feature_names, days, config, fit, seconds)
        predictions.append(scored)
        label = label_array(scored)
        for method in METHODS:
            values = classification_metrics(
                label,
                scored[f"{method}_score"].to_numpy(),
                scored[f"{method}_proba"].to_numpy(),
                config.depths,
            )
            metric_rows.append(
                {"fold": number, "test_cutoff": fold.test_cutoff, "method": method}
                | values
            )
        elapsed = time.perf_counter() - started
        log_fold(number, len(folds), fold, metric_rows, elapsed, timezone)

    metrics = pd.DataFrame(metric_rows)
    out_of_fold = pd.concat(predictions, ignore_index=True)
    lead = lead_time(out_of_fold)
    return BacktestResult(folds, metrics, out_of_fold, lead, seconds)


def score_fold(
    rows: pd.DataFrame,
    fold: Fold,
    feature_names: list[str],
    days: pd.DataFrame,
    config: TrainConfig,
    fit: Callable[..., Any],
    seconds: dict[str, float],
) -> pd.DataFrame:
    """Fit the model and baselines on a fold's training rows; score its test rows."""
    train = rows[rows["as_of"].isin(fold.train_cutoffs)]
    test = rows[rows["as_of"] == fold.test_cutoff]
    leaked = train["as_of"] + config.horizon_days * DAY > fold.test_cutoff
    if leaked.any():
        raise AssertionError(f"fold {fold.test_cutoff}: a training label window leaks")
    out = test[["partner_id", "as_of", "label"]].copy()
    out["days_since_last_deal"] = test["hist_days_since_last_deal"]

    clock = time.perf_counter()
    model = fit(train, feature_names, config)
    proba = model.predict_proba(test)
    out["model_score"] = proba
    out["model_proba"] = proba
    _tick(seconds, "model_fit", clock)

    clock = time.perf_counter()
    add_rule_baselines(out, train, test)
    _tick(seconds, "rule_baselines", clock)

    clock = time.perf_counter()
    categorical = categorical_features(train, feature_names)
    numeric = [n for n in feature_names if n not in categorical]
    pipeline = baselines.fit_logistic(train, label_array(train), numeric, categorical)
    logistic = baselines.predict_logistic(pipeline, test, numeric, categorical)
    out["logistic_score"] = logistic
    out["logistic_proba"] = logistic
    _tick(seconds, "logistic_fit", clock)

    clock = time.perf_counter()
    add_bgnbd(out, days, fold.test_cutoff, config.horizon_days)
    _tick(seconds, "bgnbd_fit", clock)
    return out


def add_rule_baselines(
    out: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame
) -> None:
    """Score the days-since-last-deal and deal-trend rules, calibrated on ``train``."""
    rules = {
        "days_since_last_deal": baselines.days_since_last_deal_score,
        "deal_trend": baselines.deal_trend_score,
    }
    train_history = _history(train)
    test_history = _history(test)
    for name, rule in rules.items():
        train_score = rule(train_history)
        test_score = rule(test_history)
        mapping = baselines.fit_score_calibration(train_score, label_array(train))
        out[f"{name}_score"] = test_score
        out[f"{name}_proba"] = mapping.predict(test_score)


def add_bgnbd(
    out: pd.DataFrame, days: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int
) -> None:
    """Fit BG/NBD on every partner's history before ``cutoff`` and score ``out``."""
    history = baselines.summarise_before(days, cutoff, RULE_QUIET_DAYS)
    fitted = baselines.fit_bgnbd(
        history["x"].to_numpy(), history["t_x"].to_numpy(), history["age"].to_numpy()
    )
    mine = history.reindex(out["partner_id"])
    x, t_x, age = (mine[c].to_numpy(dtype=float) for c in ("x", "t_x", "age"))
    horizon = horizon_days / baselines.WEEK_DAYS
    expected = fitted.expected_deals(horizon, x, t_x, age)
    out["bgnbd_score"] = -np.nan_to_num(expected, nan=0.0)
    out["bgnbd_proba"] = np.nan_to_num(fitted.p_no_deal(horizon, x, t_x, age), nan=1.0)
    out["bgnbd_expected_deals"] = expected


def _history(rows: pd.DataFrame) -> pd.DataFrame:
    prefix = "hist_"
    columns = [c for c in rows.columns if c.startswith(prefix)]
    return rows[columns].rename(columns=lambda c: c[len(prefix) :])


def _tick(seconds: dict[str, float], key: str, started: float) -> None:
    seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - started


def log_fold(
    number: int,
    total: int,
    fold: Fold,
    metric_rows: list[dict[str, Any]],
    elapsed: float,
    timezone: str,
) -> None:
    """One info line per fold: PR-AUC and ROC-AUC of the model and the baselines.

    The test cutoff is shown as the local date the user asked for, not its UTC instant.
    """
    mine = [r for r in metric_rows if r["fold"] == number]
    parts = [f"{r['method']} PR-AUC {r['pr_auc']:.3f}" for r in mine]
    model = next(r for r in mine if r["method"] == "model")
    log.info(
        "fold %d/%d (test %s, %d training cutoffs, base rate %.3f) in %.1f s: "
        "model ROC-AUC %.3f; %s",
        number,
        total,
        fold.test_cutoff.tz_convert(timezone).date(),
        len(fold.train_cutoffs),
        model["base_rate"],
        elapsed,
        model["roc_auc"],
        ", ".join(parts),
    )


# lead time -------------------------------------------------------------------------


def lead_time(predictions: pd.DataFrame, method: str = "model") -> dict[str, Any]:
    """Days by which ``method`` flags silent partners before the 90-day rule.

    Parameters
    ----------
    predictions
        Out-of-fold rows with ``partner_id``, ``as_of``, ``label``,
        ``days_since_last_deal`` and ``<method>_score``.
    method
        The scored method to measure.

    Returns
    -------
    dict
        ``partners`` (silent partners the rule flagged inside the test window),
        ``flagged_earlier_or_same`` (of those, flagged by the model by the rule's
        cutoff), ``median_days``, ``q1_days``, ``q3_days``, ``censored`` (lead
        times that start at the first test cutoff, so may be longer) and the
        rule's and model's precision.
    """
    frame = predictions.copy()
    frame["rule_flag"] = frame["days_since_last_deal"] >= RULE_QUIET_DAYS
    frame["model_flag"] = False
    rule_precision, model_precision = [], []
    for _, rows in frame.groupby("as_of"):
        if not rows["rule_flag"].any():
            continue
        label = label_array(rows)
        target = float(label[rows["rule_flag"].to_numpy()].mean())
        score = rows[f"{method}_score"].to_numpy()
        flags = score >= threshold_at_precision(score, label, target)
        frame.loc[rows.index, "model_flag"] = flags
        rule_precision.append(target)
        model_precision.append(float(label[flags].mean()) if flags.any() else np.nan)

    leads, censored, total = [], 0, 0
    first_cutoff = frame["as_of"].min()
    for _, rows in frame.sort_values("as_of").groupby("partner_id"):
        lead, is_censored = partner_lead(rows, first_cutoff)
        if lead is None:
            continue
        total += 1
        if np.isfinite(lead):
            leads.append(lead)
            censored += int(is_censored)
    values = np.asarray(leads, dtype=float)
    quartiles = np.percentile(values, [25, 50, 75]) if len(values) else [np.nan] * 3
    return {
        "partners": total,
        "flagged_earlier_or_same": len(values),
        "median_days": float(quartiles[1]),
        "q1_days": float(quartiles[0]),
        "q3_days": float(quartiles[2]),
        "mean_days": float(values.mean()) if len(values) else float("nan"),
        "censored": censored,
        "rule_precision": _mean(rule_precision),
        "model_precision": _mean(model_precision),
    }


def threshold_at_precision(
    score: np.ndarray, label: np.ndarray, target: float
) -> float:
    """The lowest score threshold whose precision still reaches ``target``.

    Returns ``inf`` (flag nobody) when no depth reaches the target precision.
    """
    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(label[order])
    precision = hits / np.arange(1, len(score) + 1)
    reaching = np.nonzero(precision >= target)[0]
    if len(reaching) == 0:
        return float("inf")
    return float(score[order][reaching[-1]])


def partner_lead(
    rows: pd.DataFrame, first_cutoff: pd.Timestamp
) -> tuple[float | None, bool]:
    """Lead time of one partner's out-of-fold rows (sorted by ``as_of``).

    Returns ``(None, False)`` when the rule does not newly flag a partner that
    then stays silent; ``(inf, False)`` when the model had not flagged it by the
    rule's cutoff; else the lead in days and whether it starts at ``first_cutoff``.
    """
    fired = rows[rows["rule_flag"]]
    if fired.empty:
        return None, False
    rule_row = fired.iloc[0]
    rule_at = pd.Timestamp(rule_row["as_of"])
    if rule_at == first_cutoff or int(rule_row["label"]) != 1:
        return None, False
    last_deal = rule_at - float(rule_row["days_since_last_deal"]) * DAY
    window = rows[(rows["as_of"] > last_deal) & (rows["as_of"] <= rule_at)]
    flagged = window[window["model_flag"].astype(bool)]
    if flagged.empty:
        return float("inf"), False
    first_flag = pd.Timestamp(flagged["as_of"].iloc[0])
    return float((rule_at - first_flag) / DAY), first_flag == first_cutoff


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
