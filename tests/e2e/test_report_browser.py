"""The HTML report in a real headless Chromium: loads clean, ranked, self-contained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ghost_model.actions import suggest_actions
from ghost_model.contract import STAGES_WITH_CONTEXT
from ghost_model.report import build_report, write_report
from ghost_model.scoring import RiskBands

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian chromium missing (tests/setup_browser.sh installs it as root)",
    ),
]


def make_records(n: int, lang: str, seed: int) -> list[dict[str, Any]]:
    """Score records shaped like score_partners' output, with reps and reasons."""
    rng = np.random.default_rng(seed)
    bands = RiskBands()
    records = []
    for i in range(n):
        probability = float(rng.uniform(0.02, 0.95))
        stages = {s: float(rng.normal(0, 0.6)) for s in STAGES_WITH_CONTEXT}
        driver = max(("sellability", "distance", "priority"), key=lambda s: stages[s])
        reps = [
            {"rep_id": f"R{i}1", "deals_180d": 3.0, "status": "active"},
            {"rep_id": f"R{i}2", "deals_180d": 0.0, "status": "quiet"},
            {"rep_id": f"R{i}3", "deals_180d": None, "status": "departed"},
        ]
        records.append(
            {
                "partner_id": f"P{i:03d}",
                "as_of": "2025-04-01",
                "probability": probability,
                "risk_band": bands.band(probability),
                "driving_stage": driver,
                "stage_contributions": stages,
                "reasons": [
                    {
                        "feature": f"feature_{k}",
                        "stage": driver,
                        "contribution": 0.3,
                        "value": 1.0,
                        "text": f"Signal <{k}> & co: {k + 2} in the last 90 days",
                    }
                    for k in range(3)
                ],
                "actions": suggest_actions(driver, lang),
                "reps": reps,
                "quiet_reps": reps[1:],
                "model_name": "ghost-partner",
                "model_version": "3",
                "lang": lang,
            }
        )
    return records


def make_history(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Probabilities at the five monthly cutoffs before 2025-04-01."""
    days = ["2024-11-01", "2024-12-01", "2025-01-01", "2025-02-01", "2025-03-01"]
    rows = [
        {"partner_id": r["partner_id"], "as_of": d, "probability": 0.1 + 0.1 * k}
        for r in records
        for k, d in enumerate(days)
    ]
    return pd.DataFrame(rows)


METADATA = {
    "name": "ghost-partner",
    "version": "3",
    "trained_at": "2025-04-02T08:00:00+00:00",
    "backtest": {
        "model": {"roc_auc": 0.81, "pr_auc": 0.52, "brier": 0.12},
        "baselines": {
            "days_since_last_deal": {"roc_auc": 0.68, "pr_auc": 0.33},
            "bg_nbd": {"roc_auc": 0.74, "pr_auc": 0.41},
        },
    },
}


def open_report(path: Path, screenshot: Path) -> dict[str, Any]:
    """Open ``path`` in Chromium; return console errors, requests and the ranking."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.on(
                "console",
                lambda m: errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri(), wait_until="load", timeout=30_000)
            page.locator("details").first.click()
            result = {
                "errors": errors,
                "requests": requests,
                "has_table": page.locator("table#partners").count() == 1,
                "probabilities": [
                    float(v)
                    for v in page.locator("tr.partner").evaluate_all(
                        "rows => rows.map(r => r.dataset.probability)"
                    )
                ],
                "ranks": page.locator("tr.partner > td:first-child").all_inner_texts(),
                "svgs": page.locator("tr.partner svg").count(),
                "rep_rows": page.locator("table.reps tbody tr").count(),
                "title": page.title(),
            }
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    return result


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_open_report_browser_clean_sorted(lang: str, tmp_path: Path) -> None:
    """Check that the report loads without errors or network, ranked by risk."""
    records = make_records(25, lang, seed=4)
    html = build_report(
        records, metadata=METADATA, history=make_history(records), lang=lang
    )
    path = write_report(html, tmp_path / f"report_{lang}.html")
    screenshot = tmp_path / f"report_{lang}.png"

    page = open_report(path, screenshot)

    assert page["errors"] == []
    assert all(url.startswith("file://") for url in page["requests"])
    assert page["has_table"]
    assert len(page["probabilities"]) == 25
    assert page["probabilities"] == sorted(page["probabilities"], reverse=True)
    assert page["ranks"] == [str(i) for i in range(1, 26)]
    assert page["svgs"] == 50  # one trend and one stage bar per partner
    assert page["rep_rows"] == 75
    assert "2025-04-01" in page["title"]
    assert screenshot.stat().st_size > 10_000


def test_run_demo_reports_browser(
    small_dataset_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Check that `ghost-model demo` writes scores, snapshot and reports that load."""
    from ghost_model.features import build_feature_table, monthly_cutoffs
    from ghost_model.loaders import load_dataset
    from ghost_model.scoring import CSV_COLUMNS
    from ghost_model.snapshot import read_snapshot
    from ghost_model.training import DEFAULT_PARAMS, TrainConfig, fit_model
    from pipelines.cli import main

    dataset = load_dataset(small_dataset_dir)
    table = build_feature_table(dataset, monthly_cutoffs(dataset)[-8:])
    model = fit_model(
        table.frame,
        table.feature_names,
        TrainConfig(num_boost_round=40, params={**DEFAULT_PARAMS, "num_threads": 1}),
        metadata={"name": "ghost-partner", "version": "7"},
    )
    monkeypatch.setattr(
        "ghost_model.registry.load_model", lambda alias="champion", settings=None: model
    )
    monkeypatch.setenv("GHOST_HOME", str(tmp_path))

    assert main(["demo", "--data", str(small_dataset_dir)]) == 0

    for name in ("scores_en.csv", "scores_ja.csv", "scores.json", "stage_check.csv"):
        assert (tmp_path / name).is_file(), name
    scores = pd.read_csv(tmp_path / "scores_ja.csv", encoding="utf-8-sig")
    assert tuple(scores.columns) == CSV_COLUMNS
    assert (scores["model_version"].astype(str) == "7").all()
    snapshot = read_snapshot(tmp_path / "snapshot.duckdb")
    assert set(snapshot) == {"en", "ja"}
    assert len(snapshot["ja"]) == len(scores)

    page = open_report(tmp_path / "report_ja.html", tmp_path / "report_ja.png")
    assert page["errors"] == []
    assert page["has_table"]
    assert page["probabilities"] == sorted(page["probabilities"], reverse=True)
    assert len(page["probabilities"]) == min(len(scores), 200)
