"""End-to-end checks of the scoring service on a model from a real MLflow registry.

A model is trained in the test session on the small simulated ecosystem, logged and
registered in a SQLite MLflow store in a temporary folder, promoted to ``champion``
and scored into a snapshot; the service then loads both the way ``ghost-model
serve`` does and answers on a real uvicorn server on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest
from fastapi import FastAPI

from ghost_model import registry, training
from ghost_model.features import FeatureTable, build_feature_table, monthly_cutoffs
from ghost_model.scoring import score_partners
from ghost_model.settings import Settings
from ghost_model.simulate import SimulatedEcosystem
from ghost_model.snapshot import write_snapshot
from serving.app import create_app
from serving.live import score_activity, warm_up_request
from serving.schemas import ScoreRecord
from serving.state import load_service_state

# Given by the e2e conftest: ``with serve_on_loopback(app) as base_url``.
ServeOnLoopback = Callable[[FastAPI], AbstractContextManager[str]]

API_KEY = "api-key-for-registry-tests-001"
ADMIN_KEY = "admin-key-for-registry-tests-01"
CUTOFFS = 10


DERIVED = "deal_rhythm_p_silent"
"""The input a trained model derives from the deal-history features."""


@dataclass
class Trained:
    """The registry, the snapshot and what they were built from."""

    settings: Settings
    eco: SimulatedEcosystem
    table: FeatureTable
    as_of: pd.Timestamp
    scores: dict[str, list[dict[str, Any]]]

    def train_and_promote(self, rounds: int, pr_auc: float) -> str:
        """Fit, log, register and promote a model; rewrite the snapshot with it."""
        model = training.fit_model(
            self.table.frame,
            self.table.feature_names,
            training.TrainConfig(num_boost_round=rounds, calibration_cutoffs=1),
        )
        run = registry.log_training_run(
            model=model,
            example=self.table.frame.head(5),
            params={"rounds": rounds},
            metrics={"pr_auc_mean": pr_auc},
            step_metrics=[],
            tags={},
            tables={},
            documents={},
            figures={},
            backtest_key="service-e2e",
            pr_auc_mean=pr_auc,
            settings=self.settings,
        )
        decision = registry.promote(self.settings)
        assert str(decision.champion_after) == str(run.version)
        self.write_snapshot(registry.load_model("champion", self.settings))
        return str(run.version)

    def write_snapshot(self, model: Any) -> None:
        timezone = self.eco.config.timezone
        self.scores = {
            lang: score_partners(
                model, self.table, timezone=timezone, as_of=self.as_of, lang=lang
            )
            for lang in ("en", "ja")
        }
        write_snapshot(self.scores, self.settings.resolved_snapshot_path())

    def activity(self, partner_id: str, tables: tuple[str, ...] | None = None) -> Any:
        """One partner's rows of the ecosystem as a /v1/score-activity body."""
        posted = {}
        for name, frame in self.eco.tables.items():
            if tables is not None and name not in tables:
                continue
            rows = frame[frame["partner_id"] == partner_id]
            posted[name] = orjson.loads(
                rows.to_json(orient="records", date_format="iso")
            )
        day = self.as_of.tz_convert(self.eco.config.timezone).date().isoformat()
        return {
            "partner_id": partner_id,
            "as_of": day,
            "timezone": self.eco.config.timezone,
            "tables": posted,
        }


@pytest.fixture(scope="module")
def trained(
    small_ecosystem: SimulatedEcosystem, tmp_path_factory: pytest.TempPathFactory
) -> Trained:
    """Version 1 trained, registered in a fresh SQLite store, champion, scored."""
    home = tmp_path_factory.mktemp("service_registry")
    settings = Settings.model_validate(
        {
            "home": home,
            "tracking_uri": f"sqlite:///{home / 'mlflow.db'}",
            "api_keys": [API_KEY],
            "admin_keys": [ADMIN_KEY],
        }
    )
    dataset = small_ecosystem.dataset()
    table = build_feature_table(dataset, monthly_cutoffs(dataset)[-CUTOFFS:])
    as_of = pd.Timestamp(table.frame["as_of"].max())
    state = Trained(settings, small_ecosystem, table, as_of, {})
    assert state.train_and_promote(rounds=30, pr_auc=0.5) == "1"
    return state


@pytest.fixture(scope="module")
def url(trained: Trained, serve_on_loopback: ServeOnLoopback) -> Iterator[str]:
    """The service, started the way `ghost-model serve` starts it, and ready."""
    app = create_app(trained.settings, settle_gc=False)
    with (
        serve_on_loopback(app) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.1)
        yield base


LIVE_TIMEOUT_S = 300
"""How long a test waits for an answer. The first live score starts the scoring
process (spawned, at nice +10) and compiles the feature queries: on a 2-core machine
busy with other jobs that took more than 60 s once."""


@pytest.fixture
def api(url: str) -> Iterator[httpx.Client]:
    headers = {"X-API-Key": API_KEY}
    with httpx.Client(base_url=url, headers=headers, timeout=LIVE_TIMEOUT_S) as c:
        yield c


def test_serve_snapshot_scores_of_registered_champion(
    api: httpx.Client, trained: Trained
) -> None:
    """Check that known ids get the scoring job's records and unknown ids come back."""
    expected = {r["partner_id"]: r for r in trained.scores["en"][:3]}
    answer = api.post("/v1/scores", json={"partner_ids": [*expected, "no-such-id"]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["unknown_ids"] == ["no-such-id"]
    assert body["model_version"] == api.get("/readyz").json()["model_version"]
    for record in body["results"]:
        ScoreRecord.model_validate(record)
        assert record["probability"] == expected[record["partner_id"]]["probability"]
        assert record["model_version"] == body["model_version"]


def test_describe_registered_model(api: httpx.Client, trained: Trained) -> None:
    """Check that GET /v1/model names the champion's version and every input.

    The inputs are the feature table's columns plus the deal-rhythm probability the
    model derives from them, listed under its own stage.
    """
    body = api.get("/v1/model").json()
    assert body["alias"] == "champion"
    assert body["model_name"] == trained.settings.model_name
    served = [name for names in body["features_by_stage"].values() for name in names]
    assert sorted(served) == sorted([*trained.table.feature_names, DERIVED])
    assert DERIVED in body["features_by_stage"]["priority"]
    assert "unknown" not in body["features_by_stage"]
    assert body["snapshot"]["as_of"] == trained.scores["en"][0]["as_of"]


def test_score_posted_activity_with_training_features(
    api: httpx.Client, trained: Trained
) -> None:
    """Check that one partner's posted rows get an explained score from the champion."""
    partner_id = trained.scores["en"][0]["partner_id"]
    answer = api.post("/v1/score-activity", json=trained.activity(partner_id))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    record = ScoreRecord.model_validate(body["result"])
    assert record.partner_id == partner_id
    assert record.probability is not None
    assert 0.0 <= record.probability <= 1.0
    assert body["model_version"] == record.model_version


def test_score_activity_with_empty_optional_tables(
    api: httpx.Client, trained: Trained
) -> None:
    """Check that optional tables posted as empty lists are scored, with no NaN."""
    partner_id = trained.scores["en"][0]["partner_id"]
    body = trained.activity(partner_id)
    for name in ("interactions", "portal_views", "psm_assignments"):
        body["tables"][name] = []
    answer = api.post("/v1/score-activity", json=body)
    assert answer.status_code == 200, answer.text
    orjson.loads(answer.content)  # strict JSON: NaN or Infinity would not parse
    assert b"NaN" not in answer.content


def test_refuse_activity_lacking_tables_the_model_needs(
    api: httpx.Client, trained: Trained
) -> None:
    """Check that activity without tables the model was trained on gets 422."""
    partner_id = trained.scores["en"][0]["partner_id"]
    answer = api.post(
        "/v1/score-activity", json=trained.activity(partner_id, tables=("deals",))
    )
    assert answer.status_code == 422
    error = answer.json()["errors"][0]
    assert error["field"] == "body.tables"
    assert "interactions" in error["message"]


def test_write_strict_json_for_every_snapshot_record(
    api: httpx.Client, trained: Trained
) -> None:
    """Check that no served record carries NaN or infinity, in either language."""
    ids = [r["partner_id"] for r in trained.scores["en"]]
    for lang in ("en", "ja"):
        answer = api.post("/v1/scores", json={"partner_ids": ids, "lang": lang})
        body = orjson.loads(answer.content)  # strict: NaN or Infinity would not parse
        assert len(body["results"]) == len(ids)
        assert b"NaN" not in answer.content


def test_refuse_bad_activity_row_naming_table_row_column(
    api: httpx.Client, trained: Trained
) -> None:
    """Check that a row breaking the contract gets 422 naming table, row and column."""
    partner_id = trained.scores["en"][0]["partner_id"]
    body = trained.activity(partner_id)
    body["tables"]["deals"][1]["registered_at"] = "soon"
    answer = api.post("/v1/score-activity", json=body)
    assert answer.status_code == 422
    error = answer.json()["errors"][0]
    assert error["field"] == "body.tables.deals.1.registered_at"
    assert "tables.deals row 2, column 'registered_at'" in error["message"]


def test_reload_new_champion_under_load(url: str, trained: Trained) -> None:
    """Check that reloading a newly promoted version under load fails no request.

    Each answer names one version throughout; after the reload, the new one.
    """
    before = httpx.get(f"{url}/readyz").json()["model_version"]
    after = trained.train_and_promote(rounds=20, pr_auc=0.6)
    ids = [r["partner_id"] for r in trained.scores["en"][:20]]
    stop = threading.Event()

    def hammer() -> list[tuple[int, set[str]]]:
        seen = []
        headers = {"X-API-Key": API_KEY}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            while not stop.is_set():
                answer = client.post("/v1/scores", json={"partner_ids": ids})
                body = answer.json()
                versions = {body["model_version"]}
                versions |= {r["model_version"] for r in body["results"]}
                seen.append((answer.status_code, versions))
        return seen

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(hammer) for _ in range(4)]
        time.sleep(0.3)
        with httpx.Client(
            base_url=url, headers={"X-API-Key": ADMIN_KEY}, timeout=120
        ) as admin:
            reloaded = admin.post("/v1/admin/reload")
        time.sleep(0.3)
        stop.set()
        seen = [item for future in futures for item in future.result()]
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["previous_version"] == before
    assert reloaded.json()["model_version"] == after
    assert seen
    assert {status for status, _ in seen} == {200}
    assert all(len(versions) == 1 for _, versions in seen)
    assert {v for _, versions in seen for v in versions} <= {before, after}
    assert seen[-1][1] == {after}


def test_warm_up_live_scoring_on_registered_model(trained: Trained) -> None:
    """Check that the load-time warm-up request is scored by a registered model."""
    state = load_service_state(trained.settings)
    record = score_activity(state, warm_up_request())
    assert record["partner_id"] == "warm-up-partner"
    assert record["model_version"] == state.model_version


def test_refuse_activity_scored_after_today(
    api: httpx.Client, trained: Trained
) -> None:
    """Check that an as_of after today is a 422 on as_of: the days after now would
    read as silence."""
    partner_id = trained.scores["en"][0]["partner_id"]
    body = trained.activity(partner_id)
    tomorrow = pd.Timestamp.now(tz="Pacific/Kiritimati") + pd.Timedelta(days=2)
    body["as_of"] = tomorrow.date().isoformat()
    answer = api.post("/v1/score-activity", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["errors"][0]
    assert error["field"] == "body.as_of"
    assert "after today" in error["message"]


@pytest.mark.parametrize(
    ("as_of", "zone", "message"),
    [
        ("2011-12-30", "Pacific/Apia", "does not exist in Pacific/Apia"),
        ("1800-01-01", None, "before 1900-01-01"),
    ],
)
def test_refuse_activity_as_of_without_cutoff(
    api: httpx.Client, trained: Trained, as_of: str, zone: str | None, message: str
) -> None:
    """Check that an as_of with no cutoff (a day the zone skipped, a day before
    1900) is a 422 on as_of, before the posted rows are validated."""
    body = trained.activity(trained.scores["en"][0]["partner_id"])
    body["as_of"] = as_of
    if zone is not None:
        body["timezone"] = zone
    answer = api.post("/v1/score-activity", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["errors"][0]
    assert error["field"] == "body.as_of"
    assert message in error["message"]
