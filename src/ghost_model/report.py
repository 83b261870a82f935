"""The partner-sales lead's report: one self-contained HTML file, English or Japanese.

The page needs no network: styles are inline and every chart is an inline SVG. It
holds a header (what the model predicts, its backtest numbers against the baselines,
how to read the stages) and the partners ranked by risk, each with its band, the
change since the previous cutoff, a bar of stage contributions, the reasons, the
suggested actions, a trend of the score over the last six cutoffs and its reps.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from ghost_model.actions import check_lang
from ghost_model.contract import STAGE_NAMES, STAGES, STAGES_WITH_CONTEXT
from ghost_model.scoring import RiskBands

logger = logging.getLogger(__name__)

TREND_POINTS = 6
"""Cutoffs in a partner's score trend, the current one included."""

STAGE_COLOURS: dict[str, str] = {
    "sellability": "#d95f02",
    "distance": "#7570b3",
    "priority": "#1b9e77",
    "context": "#9e9e9e",
}

BAR_WIDTH = 140
SPARK_WIDTH, SPARK_HEIGHT = 96, 26

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Partner silence risk",
        "intro": (
            "For every active partner, the probability that it registers no new deal "
            "in the next {horizon} days, from gradient-boosted trees (LightGBM) "
            "blended with a logistic regression, on the activity we record: deals, "
            "questions, portal views, "
            "rep rosters and partner-manager assignments. Probabilities are "
            "calibrated: of 100 partners at 40%, about 40 go silent."
        ),
        "model": "Model",
        "trained": "trained",
        "as_of": "Scores as of",
        "backtest": "Backtest: the model against what a sales team uses today",
        "backtest_note": (
            "Rolling-origin backtest: each month is scored by a model trained only "
            "on earlier, complete months. Higher is better for AUC, precision and "
            "lift; lower for Brier score and log loss."
        ),
        "no_backtest": "The model carries no backtest summary.",
        "folds": "Mean over {n} monthly test cutoffs. ",
        "lead": (
            "Early warning: among partners that went silent, the model flagged them "
            "a median {median:.0f} days (quartiles {q1:.0f}–{q3:.0f}) before the rule "
            "“no deal for 90 days” did, at that rule's precision."
        ),
        "stages": "How to read the stages",
        "stages_note": (
            "Each score is split into the push of each stage (SHAP contributions in "
            "log-odds). Bars right of the line push towards silence, bars left of it "
            "hold the partner. The driving stage is the stage that pushes most "
            "towards silence; context (size, tier, tenure, season) is shown but "
            "never drives."
        ),
        "bands": "Risk bands",
        "band_rule": "high from {high:.0%}, medium from {medium:.0%}",
        "partners": "Partners ranked by risk",
        "shown": "{shown} of {total} scored partners shown (highest risk first).",
        "rank": "#",
        "partner": "Partner",
        "band": "Band",
        "probability": "Risk",
        "change": "Change",
        "trend": "Last {n} cutoffs",
        "stage_bar": "Stages",
        "driver": "Driving stage",
        "reasons": "Why",
        "actions": "What to do",
        "reps": "Reps",
        "no_driver": "none",
        "new": "new",
        "rep_summary": "{quiet} quiet or left of {total}",
        "no_reps": "no rep data",
        "high": "high",
        "medium": "medium",
        "low": "low",
        "active": "active",
        "quiet": "went quiet",
        "departed": "left",
        "never_sold": "never sold",
        "rep_id": "Rep",
        "status": "Status",
        "generated": "Generated",
    },
    "ja": {
        "title": "パートナー離反リスク",
        "intro": (
            "稼働中の各パートナーについて、今後{horizon}日間に新規案件の登録が"
            "1件もない確率を示します。案件・問い合わせ・ポータル閲覧・営業担当者の"
            "在籍・PSMの担当状況といった記録済みの活動データから、勾配ブースティング木"
            "（LightGBM）とロジスティック回帰を組み合わせたモデルで推定しています。"
            "確率は較正済みで、40%と出た100社のうち"
            "約40社が実際に沈黙します。"
        ),
        "model": "モデル",
        "trained": "学習日",
        "as_of": "スコア基準日",
        "backtest": "バックテスト：営業現場の従来の目安との比較",
        "backtest_note": (
            "ローリング方式のバックテストです。各月は、それより前の結果が確定した月"
            "だけで学習したモデルで評価しています。AUC・適合率・リフトは高いほど、"
            "ブライアスコアと対数損失は低いほど良い値です。"
        ),
        "no_backtest": "このモデルにはバックテストの集計がありません。",
        "folds": "月次の評価時点{n}回の平均。",
        "lead": (
            "早期警戒: 実際に沈黙したパートナーを、「90日間案件なし」のルールと同じ"
            "適合率で、ルールより中央値で{median:.0f}日（四分位 {q1:.0f}〜{q3:.0f}日）"
            "早く検知しました。"
        ),
        "stages": "段階の読み方",
        "stages_note": (
            "各スコアを段階ごとの寄与（SHAP値、対数オッズ）に分解しています。線より"
            "右の棒は沈黙の方向へ押し上げ、左の棒は踏みとどまらせる要因です。"
            "最も強く沈黙へ押している段階を「主因の段階」として示します。前提条件"
            "（規模・ランク・取引年数・季節）は表示のみで、主因にはしません。"
        ),
        "bands": "リスク区分",
        "band_rule": "{high:.0%}以上で高、{medium:.0%}以上で中",
        "partners": "リスクの高い順のパートナー一覧",
        "shown": "スコア対象{total}社のうち{shown}社を表示（リスクの高い順）。",
        "rank": "順位",
        "partner": "パートナー",
        "band": "区分",
        "probability": "リスク",
        "change": "前回比",
        "trend": "直近{n}回の推移",
        "stage_bar": "段階別の寄与",
        "driver": "主因の段階",
        "reasons": "主な理由",
        "actions": "推奨アクション",
        "reps": "営業担当者",
        "no_driver": "なし",
        "new": "新規",
        "rep_summary": "{total}名中{quiet}名が休眠・離脱",
        "no_reps": "担当者データなし",
        "high": "高",
        "medium": "中",
        "low": "低",
        "active": "活動中",
        "quiet": "休眠",
        "departed": "退職・異動",
        "never_sold": "販売実績なし",
        "rep_id": "担当者",
        "status": "状態",
        "generated": "作成日時",
    },
}

STAGE_STORIES: dict[str, dict[str, str]] = {
    "sellability": {
        "en": "Proposals stop turning into orders; the partner starts to feel the "
        "product is hard to close.",
        "ja": "提案が受注につながらなくなり、"
        "「この製品は決まりにくい」と感じ始める段階。",
    },
    "distance": {
        "en": "The partner asks less and shares less; often started on our side by "
        "slower answers or a new or overloaded partner manager.",
        "ja": "相談や問い合わせが減り、情報共有が細っていく段階。"
        "回答の遅れやPSMの交代・過負荷など、当社側がきっかけのことも多い。",
    },
    "priority": {
        "en": "Inside the partner the product slips down the list: reps who sold it "
        "leave, new reps never sell it.",
        "ja": "パートナー社内で当社製品の優先度が下がる段階。売っていた担当者が抜け、"
        "新しい担当者は扱わない。",
    },
    "context": {
        "en": "Not a stage: size, tier, tenure and season.",
        "ja": "段階ではなく、規模・ランク・取引年数・季節などの前提。",
    },
}

REP_COLUMNS: dict[str, dict[str, str]] = {
    "deals_180d": {"en": "Deals 180 d", "ja": "案件 180日"},
    "won_180d": {"en": "Won 180 d", "ja": "受注 180日"},
    "days_since_last_activity": {"en": "Idle days", "ja": "無活動日数"},
}
"""Rep columns shown in the report when the rep table has them, with headings."""

SHOWN_METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "precision_at_10",
    "lift_at_10",
    "precision_at_20",
    "lift_at_20",
    "brier",
    "log_loss",
)
"""Backtest metrics shown in the report's header, in order, when present."""

METRIC_NAMES: dict[str, dict[str, str]] = {
    "roc_auc": {"en": "ROC-AUC", "ja": "ROC-AUC"},
    "pr_auc": {"en": "PR-AUC", "ja": "PR-AUC"},
    "precision_at_10": {"en": "Precision, top 10%", "ja": "上位10%の適合率"},
    "lift_at_10": {"en": "Lift, top 10%", "ja": "上位10%のリフト"},
    "precision_at_20": {"en": "Precision, top 20%", "ja": "上位20%の適合率"},
    "lift_at_20": {"en": "Lift, top 20%", "ja": "上位20%のリフト"},
    "brier": {"en": "Brier", "ja": "ブライアスコア"},
    "log_loss": {"en": "Log loss", "ja": "対数損失"},
}

METHOD_NAMES: dict[str, dict[str, str]] = {
    "model": {
        "en": "This model (LightGBM + logistic regression)",
        "ja": "本モデル（LightGBM＋ロジスティック回帰）",
    },
    "days_since_last_deal": {
        "en": "Days since the last deal",
        "ja": "最終案件登録からの日数",
    },
    "deal_trend": {"en": "Deal-count trend", "ja": "案件数の増減"},
    "logistic": {
        "en": "Logistic regression, same features",
        "ja": "ロジスティック回帰（同じ特徴量）",
    },
    "bgnbd": {
        "en": "BG/NBD (classical model of silent churn)",
        "ja": "BG/NBD（離脱予測の古典モデル）",
    },
}


def build_report(
    records: Sequence[Mapping[str, Any]],
    *,
    metadata: Mapping[str, Any],
    history: pd.DataFrame | None = None,
    lang: str = "en",
    bands: RiskBands | None = None,
    horizon_days: int = 90,
    top: int | None = 200,
    title: str | None = None,
) -> str:
    """Render the HTML report of explained scores.

    Parameters
    ----------
    records
        Score records from ``ghost_model.scoring.score_partners`` (one cutoff).
    metadata
        The model's metadata (name, version, trained_at, backtest summary).
    history
        Probabilities at earlier cutoffs (``partner_id``, ``as_of``,
        ``probability``) for the change and the trend; None to leave them out.
    lang
        ``"en"`` or ``"ja"``.
    bands
        The thresholds the records were banded with, for the legend.
    horizon_days
        The prediction horizon, for the introduction.
    top
        Show at most this many partners (the highest risks); None for all.
    title
        Page title; default the report's name in ``lang``.

    Returns
    -------
    str
        A complete HTML document.
    """
    check_lang(lang)
    text = TEXT[lang]
    bands = bands or RiskBands()
    ranked = sorted(records, key=lambda r: (-r["probability"], r["partner_id"]))
    shown = ranked if top is None else ranked[:top]
    trends = partner_trends(history, ranked)
    scale = bar_scale(shown)

    context = {
        "lang": lang,
        "t": text,
        "title": title or text["title"],
        "intro": text["intro"].format(horizon=horizon_days),
        "model": model_summary(metadata),
        "as_of": ranked[0]["as_of"] if ranked else "",
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "backtest": backtest_table(metadata.get("backtest"), lang),
        "stages": [
            {
                "id": s,
                "name": STAGE_NAMES[s][lang],
                "story": STAGE_STORIES[s][lang],
                "colour": STAGE_COLOURS[s],
            }
            for s in STAGES_WITH_CONTEXT
        ],
        "band_rule": text["band_rule"].format(high=bands.high, medium=bands.medium),
        "band_counts": {
            b: sum(r["risk_band"] == b for r in ranked)
            for b in ("high", "medium", "low")
        },
        "shown_note": text["shown"].format(shown=len(shown), total=len(ranked)),
        "rows": [
            partner_row(rank, r, trends.get(r["partner_id"], []), scale, lang)
            for rank, r in enumerate(shown, start=1)
        ],
        "rep_columns": rep_columns(shown, lang),
        "trend_heading": text["trend"].format(n=TREND_POINTS),
        "stage_colours": STAGE_COLOURS,
        "bar_width": BAR_WIDTH,
        "rep_value": format_rep_value,
    }
    html = template_environment().get_template("report.html.j2").render(**context)
    logger.info(
        "rendered the %s report of %d partners (%d shown)",
        lang,
        len(ranked),
        len(shown),
    )
    return html


def write_report(html: str, path: Path) -> Path:
    """Write a rendered report as UTF-8, creating its folder.

    Parameters
    ----------
    html
        Output of :func:`build_report`.
    path
        The ``.html`` file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    logger.info("wrote the report to %s", path)
    return path


def template_environment() -> jinja2.Environment:
    """The Jinja environment over the package's templates, HTML-escaping."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ghost_model", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def partner_row(
    rank: int,
    record: Mapping[str, Any],
    trend: Sequence[float | None],
    scale: float,
    lang: str,
) -> dict[str, Any]:
    """Everything the template shows for one partner."""
    text = TEXT[lang]
    previous = trend[-2] if len(trend) >= 2 else None
    change = None if previous is None else record["probability"] - previous
    if change is not None and abs(change) < 0.005:
        change = 0.0
    driver = record["driving_stage"]
    reps = record.get("reps") or []
    return {
        "rank": rank,
        "partner_id": record["partner_id"],
        "band": record["risk_band"],
        "band_label": text[record["risk_band"]],
        "probability": record["probability"],
        "change": change,
        "driver": STAGE_NAMES[driver][lang] if driver else text["no_driver"],
        "driver_id": driver or "",
        "bar": stage_bar(record["stage_contributions"], scale, lang),
        "spark": sparkline(trend),
        "reasons": record["reasons"],
        "actions": record["actions"],
        "reps": [dict(rep, status_label=text[rep["status"]]) for rep in reps],
        "rep_summary": text["rep_summary"].format(
            quiet=len(record.get("quiet_reps") or []), total=len(reps)
        )
        if reps
        else text["no_reps"],
    }


def partner_trends(
    history: pd.DataFrame | None, records: Sequence[Mapping[str, Any]]
) -> dict[str, list[float | None]]:
    """Per partner, its probabilities at the last cutoffs, the current one last.

    The current probability comes from the record; earlier ones from ``history``
    (``partner_id``, ``as_of`` ISO date, ``probability``) at the
    :data:`TREND_POINTS` - 1 cutoffs before the current one; None where the partner
    was not scored (not yet active, or inactive then).
    """
    current = {r["partner_id"]: float(r["probability"]) for r in records}
    if history is None or history.empty or not records:
        return {pid: [p] for pid, p in current.items()}
    days = history["as_of"].astype(str)
    as_of = str(records[0]["as_of"])
    cutoffs = sorted(days[days < as_of].unique())[-(TREND_POINTS - 1) :]
    position = {day: i for i, day in enumerate(cutoffs)}
    past: dict[str, list[float | None]] = {}
    for pid, day, p in zip(
        history["partner_id"], days, history["probability"], strict=True
    ):
        if day in position:
            past.setdefault(str(pid), [None] * len(cutoffs))[position[day]] = float(p)
    empty: list[float | None] = [None] * len(cutoffs)
    return {pid: [*past.get(pid, empty), p] for pid, p in current.items()}


def bar_scale(records: Sequence[Mapping[str, Any]]) -> float:
    """Log-odds per full half-bar: the largest one-sided push among the records."""
    largest = 0.0
    for r in records:
        values = [v for v in r["stage_contributions"].values() if v is not None]
        largest = max(
            largest, sum(v for v in values if v > 0), -sum(v for v in values if v < 0)
        )
    return largest or 1.0


def stage_bar(
    contributions: Mapping[str, float | None], scale: float, lang: str
) -> list[dict[str, Any]]:
    """Segments of a diverging bar: positive pushes right of centre, negative left."""
    half = BAR_WIDTH / 2
    right, left = half, half
    segments = []
    for stage in STAGES_WITH_CONTEXT:
        value = contributions.get(stage)
        if value is None or math.isnan(value) or value == 0:
            continue
        width = abs(value) / scale * half
        if value > 0:
            x, right = right, right + width
        else:
            left -= width
            x = left
        segments.append(
            {
                "x": round(x, 2),
                "width": round(width, 2),
                "colour": STAGE_COLOURS[stage],
                "label": f"{STAGE_NAMES[stage][lang]}: {value:+.2f}",
                "driver": stage in STAGES,
            }
        )
    return segments


def sparkline(values: Sequence[float | None]) -> dict[str, Any]:
    """Points of a small line chart of probabilities on a 0-1 scale, newest right."""
    step = SPARK_WIDTH / max(TREND_POINTS - 1, 1)
    offset = SPARK_WIDTH - step * (len(values) - 1)
    coords = [
        (
            round(offset + i * step, 1),
            round(SPARK_HEIGHT - 2 - v * (SPARK_HEIGHT - 4), 1),
        )
        for i, v in enumerate(values)
        if v is not None
    ]
    return {
        "points": " ".join(f"{x},{y}" for x, y in coords),
        "last": coords[-1] if coords else None,
        "label": " → ".join("–" if v is None else f"{v:.0%}" for v in values),
    }


def model_summary(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Name, version and training date of the model, as text."""
    return {
        "name": str(metadata.get("name") or "?"),
        "version": str(metadata.get("version") or "?"),
        "trained_at": str(metadata.get("trained_at") or "")[:10],
    }


def backtest_table(summary: Any, lang: str) -> dict[str, Any] | None:
    """The backtest summary as a table: model and baselines in rows, metrics in columns.

    Reads the mean metrics per method of ``summary["mean"]`` (``{method: {metric:
    value}}``, the model under ``"model"``), or ``{"model": {...}, "baselines":
    {name: {...}}}``; shows :data:`SHOWN_METRICS` where present, and the early
    warning lead time when the summary carries it. Numbers that are not finite
    show empty.
    """
    if not isinstance(summary, Mapping):
        return None
    rows = backtest_rows(summary)
    present = {k for _, values in rows for k, v in values.items() if is_number(v)}
    metrics = [m for m in SHOWN_METRICS if m in present]
    if not rows or not metrics:
        return None
    lead = summary.get("lead_time")
    best = {m: best_method(rows, m) for m in metrics}
    return {
        "metrics": [METRIC_NAMES[m][lang] for m in metrics],
        "rows": [
            {
                "name": METHOD_NAMES.get(name, {}).get(lang, name),
                "model": name == "model",
                "values": [
                    {"text": format_metric(values.get(m)), "best": best[m] == name}
                    for m in metrics
                ],
            }
            for name, values in rows
        ],
        "folds": len(summary.get("folds") or []),
        "lead": lead_text(lead, lang) if isinstance(lead, Mapping) else "",
    }


def backtest_rows(summary: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(method, metrics) pairs of a backtest summary, the model first."""
    if isinstance(summary.get("mean"), Mapping):
        methods = summary["mean"]
    else:
        methods = dict(summary.get("baselines") or {})
        if isinstance(summary.get("model"), Mapping):
            methods = {"model": summary["model"], **methods}
    rows = [(str(k), v) for k, v in methods.items() if isinstance(v, Mapping)]
    return sorted(rows, key=lambda row: row[0] != "model")


def best_method(rows: Sequence[tuple[str, Mapping[str, Any]]], metric: str) -> str:
    """The method with the best value of ``metric`` (lowest for losses)."""
    values = [(name, float(v[metric])) for name, v in rows if is_number(v.get(metric))]
    if not values:
        return ""
    pick = min if metric in LOWER_IS_BETTER else max
    return pick(values, key=lambda item: item[1])[0]


LOWER_IS_BETTER = frozenset({"brier", "log_loss"})


def lead_text(lead: Mapping[str, Any], lang: str) -> str:
    """The early-warning lead time as a sentence, or empty when unknown."""
    median, q1, q3 = (lead.get(k) for k in ("median_days", "q1_days", "q3_days"))
    if not all(is_number(v) for v in (median, q1, q3)):
        return ""
    return TEXT[lang]["lead"].format(median=median, q1=q1, q3=q3)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (not a bool)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return math.isfinite(value)


def format_metric(value: Any) -> str:
    """A metric value with three decimals, or empty when missing."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return ""
    return f"{value:.3f}"


def format_rep_value(value: Any) -> str:
    """A rep table cell: whole numbers without decimals, missing as a dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, (int, float)):
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return str(value)


def rep_columns(
    records: Sequence[Mapping[str, Any]], lang: str
) -> list[dict[str, str]]:
    """The rep columns present in the records, with headings in ``lang``."""
    present = {key for r in records for rep in r.get("reps") or [] for key in rep}
    return [
        {"key": key, "label": labels[lang]}
        for key, labels in REP_COLUMNS.items()
        if key in present
    ]
