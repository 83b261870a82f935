"""The HTML report's content: self-contained, ranked, escaped, trends and backtest."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest

from ghost_model.errors import ConfigError
from ghost_model.report import build_report, partner_trends, sparkline, stage_bar


def record(partner_id: str, probability: float, **extra: Any) -> dict[str, Any]:
    """A minimal score record."""
    base: dict[str, Any] = {
        "partner_id": partner_id,
        "as_of": "2025-04-01",
        "probability": probability,
        "risk_band": "high" if probability >= 0.5 else "low",
        "driving_stage": "distance",
        "stage_contributions": {
            "sellability": 0.1,
            "distance": 0.8,
            "priority": -0.3,
            "context": None,
        },
        "reasons": [{"feature": "f", "stage": "distance", "text": "Views: 2"}],
        "actions": ["Call them."],
        "reps": [],
        "quiet_reps": [],
        "model_name": "ghost-partner",
        "model_version": "2",
        "lang": "en",
    }
    base.update(extra)
    return base


METADATA = {
    "name": "ghost-partner",
    "version": "2",
    "backtest": {
        "folds": ["2024-10-01", "2024-11-01", "2024-12-01"],
        "mean": {
            "days_since_last_deal": {"roc_auc": 0.66, "pr_auc": 0.3, "brier": 0.2},
            "model": {"roc_auc": 0.8123, "pr_auc": 0.5, "brier": 0.25, "fold": 2.0},
        },
        "lead_time": {"median_days": 41.0, "q1_days": 20.0, "q3_days": 75.0},
    },
}


def test_build_report_ranked_by_risk() -> None:
    """Check that partners appear highest risk first whatever the input order."""
    records = [record("A", 0.2), record("B", 0.9), record("C", 0.5)]
    html = build_report(records, metadata=METADATA)

    order = re.findall(r'data-partner="(\w)"', html)
    assert order == ["B", "C", "A"]


def test_build_report_self_contained() -> None:
    """Check that the page loads nothing from elsewhere: no URLs, no scripts."""
    html = build_report([record("A", 0.7)], metadata=METADATA, lang="ja")

    assert not re.search(r"(src|href)=\"(?!data:|#)", html)
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html
    assert "<script" not in html
    assert '<html lang="ja">' in html


def test_build_report_escapes_text() -> None:
    """Check that reason texts are HTML-escaped."""
    evil = record(
        "A", 0.7, reasons=[{"feature": "f", "stage": "distance", "text": "<b>x</b>"}]
    )
    html = build_report([evil], metadata=METADATA)

    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html


def test_build_report_backtest_numbers() -> None:
    """Check that the header shows the model's and baselines' backtest numbers."""
    html = build_report([record("A", 0.7)], metadata=METADATA)
    table = html[html.index('id="backtest"') : html.index("</table>")]

    assert table.index("This model") < table.index("Days since the last deal")
    assert '<td class="num best">0.812</td>' in table
    assert '<td class="num best">0.200</td>' in table  # lower Brier is better
    assert "fold" not in table.lower().replace("folds", "")
    assert "Mean over 3 monthly test cutoffs" in html
    assert "a median 41 days (quartiles 20–75)" in html


def test_build_report_backtest_missing() -> None:
    """Check that a model without a backtest summary says so instead of a table."""
    html = build_report([record("A", 0.7)], metadata={"name": "m"}, lang="ja")

    assert 'id="backtest"' not in html
    assert "バックテストの集計がありません" in html


def test_build_report_top_limits_rows() -> None:
    """Check that only the top N partners are shown, and the note says so."""
    records = [record(f"P{i}", i / 10) for i in range(10)]
    html = build_report(records, metadata=METADATA, top=3)

    assert html.count('class="partner"') == 3
    assert "3 of 10 scored partners shown" in html


def test_build_report_change_since_previous() -> None:
    """Check that the change is the difference to the previous cutoff, in points."""
    history = pd.DataFrame(
        {
            "partner_id": ["A", "A"],
            "as_of": ["2025-02-01", "2025-03-01"],
            "probability": [0.3, 0.5],
        }
    )
    html = build_report([record("A", 0.62)], metadata=METADATA, history=history)

    assert "+12 pt" in html


def test_build_report_lang_unknown() -> None:
    """Check that an unsupported language is refused."""
    with pytest.raises(ConfigError, match="language 'de' is not supported"):
        build_report([record("A", 0.7)], metadata=METADATA, lang="de")


def test_partner_trends_gaps_and_order() -> None:
    """Check that trends keep cutoff positions, gaps as None, the current last."""
    history = pd.DataFrame(
        {
            "partner_id": ["A", "A", "B", "A"],
            "as_of": ["2025-03-01", "2025-01-01", "2025-03-01", "2025-04-01"],
            "probability": [0.4, 0.2, 0.7, 0.99],
        }
    )
    trends = partner_trends(history, [record("A", 0.5), record("B", 0.8)])

    assert trends["A"] == [0.2, 0.4, 0.5]
    assert trends["B"] == [None, 0.7, 0.8]


def test_stage_bar_sides() -> None:
    """Check that pushes towards silence go right of centre, holds left."""
    segments = stage_bar(
        {"sellability": 1.0, "distance": -0.5, "priority": None, "context": 0.0},
        scale=1.0,
        lang="en",
    )

    assert [(s["x"], s["width"]) for s in segments] == [(70.0, 70.0), (35.0, 35.0)]


def test_sparkline_skips_missing() -> None:
    """Check that missing points are left out and the last point is the newest."""
    spark = sparkline([None, 0.5, 1.0])

    assert len(spark["points"].split()) == 2
    assert spark["last"][0] == pytest.approx(96.0)
    assert spark["label"].startswith("–")


def test_build_report_change_rounds_to_zero() -> None:
    """Check that a change under half a point reads ±0, never -0."""
    history = pd.DataFrame(
        {"partner_id": ["A"], "as_of": ["2025-03-01"], "probability": [0.624]}
    )
    html = build_report([record("A", 0.62)], metadata=METADATA, history=history)

    assert "±0 pt" in html
    assert "-0 pt" not in html
