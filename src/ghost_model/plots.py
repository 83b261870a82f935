"""Figures of a training run, drawn with matplotlib's object API (no pyplot state).

Each function returns a :class:`matplotlib.figure.Figure` that MLflow logs as PNG;
nothing here picks a backend or touches global state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from sklearn.calibration import calibration_curve

from ghost_model.backtest import top_share

STAGE_COLOURS = {
    "sellability": "#d95f02",
    "distance": "#7570b3",
    "priority": "#1b9e77",
    "context": "#999999",
}
METHOD_STYLES = {
    "model": ("#222222", "-"),
    "days_since_last_deal": ("#e41a1c", "--"),
    "deal_trend": ("#ff7f00", "--"),
    "logistic": ("#377eb8", "--"),
    "bgnbd": ("#4daf4a", "--"),
}


def calibration_figure(predictions: pd.DataFrame, methods: tuple[str, ...]) -> Figure:
    """Reliability curves of the out-of-fold probabilities, pooled over folds."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="#bbbbbb", lw=1, label="perfect")
    label = predictions["label"].astype(int).to_numpy()
    for method in methods:
        proba = predictions[f"{method}_proba"].to_numpy()
        observed, predicted = calibration_curve(
            label, proba, n_bins=10, strategy="quantile"
        )
        colour, style = METHOD_STYLES.get(method, ("#555555", ":"))
        axes.plot(
            predicted, observed, marker="o", ms=3, color=colour, ls=style, label=method
        )
    axes.set(
        xlabel="predicted probability of silence",
        ylabel="observed share silent",
        title="Calibration (backtest, all folds)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axes.legend(fontsize=8)
    return figure


def depth_curves(
    predictions: pd.DataFrame, method: str, depths: np.ndarray
) -> pd.DataFrame:
    """Precision and lift of ``method`` at each depth, per fold."""
    rows = []
    for as_of, fold in predictions.groupby("as_of"):
        label = fold["label"].astype(int).to_numpy()
        score = fold[f"{method}_score"].to_numpy()
        base = label.mean()
        for depth in depths:
            precision = label[top_share(score, float(depth))].mean()
            rows.append(
                {
                    "as_of": as_of,
                    "depth": depth,
                    "precision": precision,
                    "lift": precision / base if base > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows)


def depth_figure(predictions: pd.DataFrame, methods: tuple[str, ...]) -> Figure:
    """Precision and lift by depth: the model per fold, baselines averaged."""
    depths = np.linspace(0.02, 0.5, 25)
    figure = Figure(figsize=(10, 4.5))
    precision_axes, lift_axes = figure.subplots(1, 2)
    for method in methods:
        curves = depth_curves(predictions, method, depths)
        colour, style = METHOD_STYLES.get(method, ("#555555", ":"))
        if method == "model":
            for _, fold in curves.groupby("as_of"):
                precision_axes.plot(
                    fold["depth"], fold["precision"], color=colour, lw=0.6, alpha=0.5
                )
                lift_axes.plot(
                    fold["depth"], fold["lift"], color=colour, lw=0.6, alpha=0.5
                )
        mean = curves.groupby("depth")[["precision", "lift"]].mean()
        precision_axes.plot(
            mean.index, mean["precision"], color=colour, ls=style, lw=2, label=method
        )
        lift_axes.plot(
            mean.index, mean["lift"], color=colour, ls=style, lw=2, label=method
        )
    precision_axes.set(
        xlabel="share of partners flagged (by risk)",
        ylabel="precision",
        title="Precision by depth (thin: model per fold)",
    )
    lift_axes.set(
        xlabel="share of partners flagged (by risk)",
        ylabel="lift over base rate",
        title="Lift by depth",
    )
    precision_axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def importance_figure(
    importance: pd.Series, stages: dict[str, str], top: int = 25
) -> Figure:
    """Total gain of the most important features, coloured by stage."""
    shown = importance.head(top)[::-1]
    figure = Figure(figsize=(7, 0.28 * len(shown) + 1.2))
    axes = figure.add_subplot()
    colours = [
        STAGE_COLOURS.get(stages.get(name, "context"), "#999999")
        for name in shown.index
    ]
    axes.barh(range(len(shown)), shown.to_numpy(), color=colours)
    axes.set_yticks(range(len(shown)), labels=list(shown.index), fontsize=7)
    axes.set(xlabel="total gain", title="Feature importance (colour = stage)")
    _stage_legend(axes)
    figure.tight_layout()
    return figure


def stage_contributions(
    contributions: pd.DataFrame, stages: dict[str, str]
) -> pd.DataFrame:
    """Per-row SHAP contributions summed per stage (``bias`` dropped)."""
    features = [c for c in contributions.columns if c != "bias"]
    by_stage = pd.Series({f: stages.get(f, "context") for f in features})
    grouped = contributions[features].T.groupby(by_stage).sum().T
    return grouped


def stage_shap_figure(contributions: pd.DataFrame, stages: dict[str, str]) -> Figure:
    """SHAP summary by stage: mean |contribution| and the spread per partner."""
    per_stage = stage_contributions(contributions, stages)
    order = [s for s in STAGE_COLOURS if s in per_stage.columns]
    figure = Figure(figsize=(10, 4))
    mean_axes, spread_axes = figure.subplots(1, 2)
    means = per_stage[order].abs().mean()
    mean_axes.bar(order, means.to_numpy(), color=[STAGE_COLOURS[s] for s in order])
    mean_axes.set(
        ylabel="mean |contribution| (log-odds)", title="Contribution by stage"
    )
    spread_axes.boxplot(
        [per_stage[s].to_numpy() for s in order], tick_labels=order, showfliers=False
    )
    spread_axes.axhline(0, color="#bbbbbb", lw=1)
    spread_axes.set(
        ylabel="contribution per partner (log-odds)",
        title="Spread per partner (latest cutoff)",
    )
    figure.tight_layout()
    return figure


def separation_figure(scores: pd.DataFrame) -> Figure:
    """Score distributions of partners in decline episodes and of alive ones."""
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    bins = [float(b) for b in np.linspace(0, 1, 41)]
    for group, colour in (("alive", "#1b9e77"), ("decline", "#d95f02")):
        values = scores.loc[scores["group"] == group, "probability"].to_numpy()
        axes.hist(
            values,
            bins=bins,
            density=True,
            alpha=0.55,
            color=colour,
            label=f"{group} ({len(values)})",
        )
    axes.set(
        xlabel="predicted probability of silence (backtest)",
        ylabel="density",
        title="Decline episodes vs alive partners",
    )
    axes.legend(fontsize=8)
    return figure


def _stage_legend(axes: Axes) -> None:
    handles = [Patch(color=c, label=s) for s, c in STAGE_COLOURS.items()]
    axes.legend(handles=handles, fontsize=7, loc="lower right")
