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

BAR_WIDTH = 180
SPARK_WIDTH, SPARK_HEIGHT = 96, 26

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Partner silence risk",
        "intro": (
            "For every active partner, the probability that it registers no new deal "
            "in the next {horizon} days, from a gradient-boosted tree model "
            "(LightGBM) on the activity we record: deals, questions, portal views, "
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
            "（LightGBM）で推定しています。確率は較正済みで、40%と出た100社のうち"
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
    "deals_90d": {"en": "Deals (90 d)", "ja": "案件数(90日)"},
    "deals_180d": {"en": "Deals (180 d)", "ja": "案件数(180日)"},
    "won_180d": {"en": "Won (180 d)", "ja": "受注数(180日)"},
    "days_since_last_activity": {
        "en": "Days since activity",
        "ja": "最終活動からの日数",
    },
    "tenure_days": {"en": "Tenure (days)", "ja": "在籍日数"},
}
"""Rep columns shown in the report when the rep table has them, with headings."""

METRIC_NAMES: dict[str, dict[str, str]] = {
    "roc_auc": {"en": "ROC-AUC", "ja": "ROC-AUC"},
    "pr_auc": {"en": "PR-AUC", "ja": "PR-AUC"},
    "brier": {"en": "Brier", "ja": "ブライア"},
    "log_loss": {"en": "Log loss", "ja": "対数損失"},
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

    Accepts ``{"model": {metric: value}, "baselines": {name: {metric: value}}}`` or a
    flat ``{name: {metric: value}}``; numbers that are not finite show empty.
    """
    if not isinstance(summary, Mapping):
        return None
    if isinstance(summary.get("model"), Mapping):
        rows = [("model", summary["model"])]
        baselines = summary.get("baselines")
        if isinstance(baselines, Mapping):
            rows += [
                (str(k), v) for k, v in baselines.items() if isinstance(v, Mapping)
            ]
    else:
        rows = [(str(k), v) for k, v in summary.items() if isinstance(v, Mapping)]
    metrics: list[str] = []
    for _, values in rows:
        for key, value in values.items():
            if isinstance(value, (int, float)) and key not in metrics:
                metrics.append(str(key))
    if not rows or not metrics:
        return None
    return {
        "metrics": [METRIC_NAMES.get(m, {}).get(lang, m) for m in metrics],
        "rows": [
            {
                "name": name,
                "model": name == "model",
                "values": [format_metric(values.get(m)) for m in metrics],
            }
            for name, values in rows
        ],
    }


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
