"""End-to-end checks of the scoring service over HTTP, on a real uvicorn server.

The server runs on 127.0.0.1 (a free port) in a thread of the test process. Here the
model and the snapshot are small stand-ins handed to the app factory, so these checks
guard the HTTP contract (auth, errors, NaN, reload) in a second;
``test_service_registry.py`` runs the same service on a model trained and
registered in MLflow during the test session.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from ghost_model.errors import ModelNotReadyError
from ghost_model.settings import Settings
from serving.app import create_app
from serving.openapi import OPENAPI_PATH, build_openapi, render_openapi
from serving.schemas import ActivityRequest, ScoreRecord
from serving.state import ServiceState, build_state

# Given by the e2e conftest: ``with serve_on_loopback(app) as base_url``.
ServeOnLoopback = Callable[[FastAPI], AbstractContextManager[str]]

API_KEY = "api-key-for-service-tests-0001"
ADMIN_KEY = "admin-key-for-service-tests-0001"
AS_OF = "2024-12-01"
STAGES = {"win_rate_180d": "sellability", "inbound_questions_90d": "distance"}


def wait_ready(client: httpx.Client, timeout: float = 120.0) -> httpx.Response:
    """Poll GET /readyz until it answers 200 (or give up after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get("/readyz")
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


@dataclass
class StandInModel:
    """A model as the service sees it: feature names and registry metadata."""

    version: str
    feature_names: list[str] = field(default_factory=lambda: list(STAGES))

    @property
    def metadata(self) -> dict[str, Any]:
        return {
            "name": "ghost-partner",
            "version": self.version,
            "trained_at": "2026-01-01T00:00:00+00:00",
            "backtest": {"auc": 0.81, "brier": math.nan},
        }


def stand_in_record(partner_id: str, lang: str, version: str) -> bytes:
    """One explained score record as the scoring job writes it."""
    return orjson.dumps(
        {
            "partner_id": partner_id,
            "as_of": AS_OF,
            "probability": 0.72,
            "risk_band": "high",
            "driving_stage": "distance",
            "stage_contributions": {"sellability": 0.1, "distance": 0.9},
            "reasons": [
                {
                    "feature": "inbound_questions_90d",
                    "stage": "distance",
                    "contribution": 0.9,
                    "text": "questions from the partner: 2 in the last 90 days",
                }
            ],
            "actions": ["call the partner"],
            "quiet_reps": [],
            "model_name": "ghost-partner",
            "model_version": version,
            "lang": lang,
        }
    )


# A record as a writer that let NaN through would store it (not strict JSON).
NAN_RECORD = (
    b'{"partner_id": "P-NAN", "as_of": "2024-12-01", "probability": NaN, '
    b'"risk_band": null, "driving_stage": null, "stage_contributions": '
    b'{"distance": Infinity, "priority": -Infinity}, "reasons": [], "actions": [], '
    b'"quiet_reps": [], "model_name": "ghost-partner", "model_version": "%s", '
    b'"lang": "en"}'
)


class StandInRegistry:
    """Serves version 1 until told otherwise; counts loads; can be made to fail."""

    def __init__(self) -> None:
        self.version = "1"
        self.fail = False
        self.delay = 0.0
        self.loads = 0

    def load(self, settings: Settings) -> ServiceState:
        time.sleep(self.delay)
        if self.fail:
            raise ModelNotReadyError("no model under alias 'champion'; train first")
        self.loads += 1
        v = self.version
        records = {
            lang: {p: stand_in_record(p, lang, v) for p in ("P001", "P002", "P003")}
            for lang in ("en", "ja")
        }
        records["en"]["P-NAN"] = NAN_RECORD % v.encode()
        return build_state(
            StandInModel(v), records, alias="champion", source="stand-in", stages=STAGES
        )


def stand_in_live(state: ServiceState, request: ActivityRequest) -> dict[str, Any]:
    """Live scoring stand-in: the snapshot record of the posted partner."""
    record: dict[str, Any] = orjson.loads(
        stand_in_record(request.partner_id, "en", "1")
    )
    record["probability"] = math.nan
    return record


@dataclass
class Service:
    url: str
    registry: StandInRegistry

    def client(self, key: str | None = API_KEY) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def service_settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "api_keys": [API_KEY],
        "admin_keys": [ADMIN_KEY],
        "max_batch_ids": 50,
        "max_body_bytes": 64 * 1024,
        **changes,
    }
    return Settings.model_validate(values)


def stand_in_app(
    live_scorer: Callable[[ServiceState, ActivityRequest], dict[str, Any]],
    **settings: Any,
) -> tuple[FastAPI, StandInRegistry]:
    """The service on a stand-in registry, scoring live in threads of its own."""
    registry = StandInRegistry()
    app = create_app(
        service_settings(**settings),
        loader=registry.load,
        live_scorer=live_scorer,
        settle_gc=False,
        live_process=False,
    )
    return app, registry


@pytest.fixture(scope="module")
def service(serve_on_loopback: ServeOnLoopback) -> Iterator[Service]:
    """A running service on stand-ins, ready."""
    app, registry = stand_in_app(stand_in_live)
    with serve_on_loopback(app) as url:
        running_service = Service(url, registry)
        with running_service.client() as client:
            assert wait_ready(client).status_code == 200
        yield running_service


@pytest.fixture
def api(service: Service) -> Iterator[httpx.Client]:
    with service.client() as client:
        yield client


def test_answer_health_without_key(service: Service) -> None:
    """Check that the health checks need no key and report the loaded version."""
    with service.client(key=None) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == service.registry.version


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/scores"),
        ("POST", "/v1/score-activity"),
        ("GET", "/v1/model"),
        ("POST", "/v1/admin/reload"),
    ],
)
@pytest.mark.parametrize("key", [None, "", "wrong-key-wrong-key-wrong", API_KEY[:-1]])
def test_refuse_route_without_valid_key(
    service: Service, method: str, path: str, key: str | None
) -> None:
    """Check that every route but the health checks answers 401 without a valid key."""
    with service.client(key=key) as client:
        answer = client.request(method, path, json={"partner_ids": ["P001"]})
    assert answer.status_code == 401
    assert "X-API-Key" in answer.json()["detail"]
    assert "x-api-key" in answer.headers["www-authenticate"].lower()


@pytest.mark.parametrize("key", [API_KEY, None])
def test_name_model_version_in_every_answer_header(
    service: Service, key: str | None
) -> None:
    """Check that answers, errors included, name the served version in a header."""
    with service.client(key=key) as client:
        answer = client.post("/v1/scores", json={"partner_ids": []})
    assert answer.headers["x-model-version"] == service.registry.version


def test_refuse_reload_with_api_key(api: httpx.Client) -> None:
    """Check that a valid non-admin key gets 403 (not 401) on the admin route."""
    answer = api.post("/v1/admin/reload")
    assert answer.status_code == 403
    assert "admin key" in answer.json()["detail"]


def test_return_scores_for_known_and_unknown_ids(api: httpx.Client) -> None:
    """Check that known ids get their records, in order, and unknown ids come back."""
    answer = api.post(
        "/v1/scores", json={"partner_ids": ["P002", "nobody", "P001", "P002"]}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert [r["partner_id"] for r in body["results"]] == ["P002", "P001"]
    assert body["unknown_ids"] == ["nobody"]
    assert body["model_version"] == "1"
    assert all(r["model_version"] == "1" for r in body["results"])
    for record in body["results"]:
        ScoreRecord.model_validate(record)


def test_return_empty_result_for_empty_list(api: httpx.Client) -> None:
    """Check that an empty list of ids gets an empty answer, not an error."""
    body = api.post("/v1/scores", json={"partner_ids": []}).json()
    assert (body["results"], body["unknown_ids"]) == ([], [])
    assert body["as_of"] == AS_OF


def test_return_reasons_in_requested_language(api: httpx.Client) -> None:
    """Check that lang picks the snapshot's records of that language."""
    body = api.post("/v1/scores", json={"partner_ids": ["P001"], "lang": "ja"}).json()
    assert body["lang"] == "ja"
    assert body["results"][0]["lang"] == "ja"


def test_write_null_for_nan_and_infinity(api: httpx.Client) -> None:
    """Check that NaN and infinities in a stored record reach the client as null."""
    answer = api.post("/v1/scores", json={"partner_ids": ["P-NAN"]})
    assert b"NaN" not in answer.content
    assert b"Infinity" not in answer.content
    record = orjson.loads(answer.content)["results"][0]
    assert record["probability"] is None
    assert record["stage_contributions"] == {"distance": None, "priority": None}


def test_write_null_for_nan_in_model_summary(api: httpx.Client) -> None:
    """Check that a NaN metric in the model's backtest summary is served as null."""
    answer = api.get("/v1/model")
    assert answer.status_code == 200
    body = orjson.loads(answer.content)
    assert body["backtest"] == {"auc": 0.81, "brier": None}
    assert body["model_version"] == "1"
    assert body["features_by_stage"] == {
        "sellability": ["win_rate_180d"],
        "distance": ["inbound_questions_90d"],
    }


def test_write_null_for_nan_in_live_score(api: httpx.Client) -> None:
    """Check that a NaN from live scoring is served as null, naming the version."""
    answer = api.post(
        "/v1/score-activity",
        json={
            "partner_id": "P001",
            "as_of": AS_OF,
            "tables": {"deals": [{"deal_id": "D1", "partner_id": "P001"}]},
        },
    )
    assert answer.status_code == 200, answer.text
    body = orjson.loads(answer.content)
    assert body["result"]["probability"] is None
    assert body["model_version"] == "1"


@pytest.mark.parametrize(
    "repeated",
    [
        [("X-API-Key", "wrong-key-wrong-key-wrong"), ("X-API-Key", API_KEY)],
        [("X-API-Key", API_KEY), ("X-API-Key", "wrong-key-wrong-key-wrong")],
        [("X-API-Key", API_KEY), ("content-type", "text/plain")],
    ],
)
def test_answer_alike_with_repeated_headers(repeated: list[tuple[str, str]]) -> None:
    """Check that repeated key or content-type headers get the route's answer."""

    async def ask(fast_path: bool) -> httpx.Response:
        transport = httpx.ASGITransport(app=fuzzed_app(fast_path))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            return await c.post(
                "/v1/scores",
                content=b'{"partner_ids": ["P001"]}',
                headers=[("content-type", "application/json"), *repeated],
            )

    fast, route = asyncio.run(ask(True)), asyncio.run(ask(False))
    assert (fast.status_code, fast.content) == (route.status_code, route.content)


@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/v1/scores", b'{"partner_ids": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
        ("/v1/scores", b'{"partner_ids": [' + b"7" * 5000 + b"]}"),
        ("/v1/score-activity", b'{"partner_id": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ],
    ids=["nested-scores", "digits-scores", "nested-activity"],
)
def test_refuse_unreadable_json_naming_body(
    path: str, content: bytes, fast_path: bool
) -> None:
    """Check that JSON the decoder gives up on is a 422 naming the body."""

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=fuzzed_app(fast_path))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            return await c.post(
                path,
                content=content,
                headers={"X-API-Key": API_KEY, "content-type": "application/json"},
            )

    answer = asyncio.run(ask())

    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "body"


def test_refuse_live_scoring_beyond_waiting_limit() -> None:
    """Check that score-activity beyond the waiting limit gets 503 and Retry-After."""
    release = threading.Event()

    def slow_live(state: ServiceState, request: ActivityRequest) -> dict[str, Any]:
        release.wait(timeout=10)
        return stand_in_live(state, request)

    app, registry = stand_in_app(slow_live, max_live_waiting=2)
    app.state.holder.swap(registry.load(app.state.settings))
    body = {
        "partner_id": "P001",
        "as_of": AS_OF,
        "tables": {"deals": [{"deal_id": "D1", "partner_id": "P001"}]},
    }

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:

            async def post() -> httpx.Response:
                return await c.post(
                    "/v1/score-activity", json=body, headers={"X-API-Key": API_KEY}
                )

            waiting = [asyncio.create_task(post()) for _ in range(2)]
            await asyncio.sleep(0.2)
            refused = await asyncio.gather(*(post() for _ in range(3)))
            release.set()
            return [*await asyncio.gather(*waiting), *refused]

    answers = asyncio.run(burst())
    assert [a.status_code for a in answers] == [200, 200, 503, 503, 503]
    for answer in answers[2:]:
        assert answer.headers["retry-after"] == "2"
        assert "live scoring is busy: 2 requests" in answer.json()["detail"]


def test_free_live_place_when_client_leaves() -> None:
    """Check that a live request whose client goes away while it waits gives up its
    place at once and is never scored."""
    release = threading.Event()
    scored: list[str] = []

    def slow_live(state: ServiceState, request: ActivityRequest) -> dict[str, Any]:
        scored.append(request.partner_id)
        release.wait(timeout=10)
        return stand_in_live(state, request)

    app, registry = stand_in_app(slow_live, max_live_waiting=3)
    app.state.holder.swap(registry.load(app.state.settings))

    async def call(partner_id: str, leave: asyncio.Event) -> list[dict[str, Any]]:
        payload = orjson.dumps(
            {
                "partner_id": partner_id,
                "as_of": AS_OF,
                "tables": {"deals": [{"deal_id": "D1", "partner_id": partner_id}]},
            }
        )
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/score-activity",
            "raw_path": b"/v1/score-activity",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-api-key", API_KEY.encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        messages = [{"type": "http.request", "body": payload, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await leave.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent

    async def scenario() -> tuple[int, list[list[dict[str, Any]]]]:
        stay, leave = asyncio.Event(), asyncio.Event()
        # two requests take both live scoring threads; the third waits for one
        running = [asyncio.create_task(call(f"P{i}", stay)) for i in (1, 2)]
        await asyncio.sleep(0.3)
        waiting = asyncio.create_task(call("P3", leave))
        await asyncio.sleep(0.3)
        leave.set()
        await asyncio.wait_for(waiting, timeout=5)
        places_taken = app.state.live_waiting
        release.set()
        answers = await asyncio.gather(*running)
        stay.set()
        return places_taken, [*answers, waiting.result()]

    places_taken, answers = asyncio.run(scenario())

    assert places_taken == 2
    assert sorted(scored) == ["P1", "P2"]
    statuses = [a[0]["status"] for a in answers]
    assert statuses == [200, 200, 499]


@pytest.mark.parametrize(
    "as_of", ["2024-12-01", "2024-12-01T10:30:00+09:00", "2024-12-01T00:00:00Z"]
)
def test_accept_as_of_on_snapshot_day(api: httpx.Client, as_of: str) -> None:
    """Check that a date or a timestamp on the snapshot's day is accepted."""
    answer = api.post("/v1/scores", json={"partner_ids": ["P001"], "as_of": as_of})
    assert answer.status_code == 200, answer.text


def test_refuse_as_of_off_snapshot_day(api: httpx.Client) -> None:
    """Check that another day answers 409 saying which day the snapshot holds."""
    answer = api.post(
        "/v1/scores", json={"partner_ids": ["P001"], "as_of": "2024-11-01"}
    )
    assert answer.status_code == 409
    detail = answer.json()["detail"]
    assert detail.startswith("conflicts with the loaded snapshot: body.as_of:")
    assert "snapshot holds scores as of 2024-12-01" in detail


@pytest.mark.parametrize(
    ("payload", "field_name"),
    [
        ({}, "body.partner_ids"),
        ({"partner_ids": "P001"}, "body.partner_ids"),
        ({"partner_ids": [1]}, "body.partner_ids.0"),
        ({"partner_ids": [""]}, "body.partner_ids.0"),
        ({"partner_ids": ["P001"], "lang": "fr"}, "body.lang"),
        ({"partner_ids": ["P001"], "as_of": "yesterday"}, "body.as_of"),
        ({"partner_ids": ["P001"], "as_of": "2024-02-30"}, "body.as_of"),
        ({"partner_ids": ["P001"], "colour": "red"}, "body.colour"),
        ({"partner_ids": [f"P{i}" for i in range(51)]}, "body.partner_ids"),
    ],
)
def test_refuse_bad_scores_request_naming_field(
    api: httpx.Client, payload: dict[str, Any], field_name: str
) -> None:
    """Check that each bad request gets 422 naming the field at fault."""
    answer = api.post("/v1/scores", json=payload)
    assert answer.status_code == 422
    body = answer.json()
    assert field_name in [e["field"] for e in body["errors"]]
    assert field_name in body["detail"]


@pytest.mark.parametrize(
    "content", [b"", b"{", b"[]", b"null", b'{"partner_ids": [NaN]}', b"\xff\xfe"]
)
def test_refuse_malformed_body(api: httpx.Client, content: bytes) -> None:
    """Check that bodies that are not the expected JSON object get 422, not 500."""
    answer = api.post(
        "/v1/scores", content=content, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"].startswith("body")


def test_refuse_body_over_size_limit(api: httpx.Client) -> None:
    """Check that a body over the byte limit gets a JSON 413."""
    ids = [f"partner-{i:08d}" for i in range(5000)]
    answer = api.post("/v1/scores", json={"partner_ids": ids})
    assert answer.status_code == 413
    assert "GHOST_MAX_BODY_BYTES" in answer.json()["detail"]


def test_refuse_chunked_body_over_size_limit(api: httpx.Client) -> None:
    """Check that a body sent in chunks without a length is cut off with 413."""

    def chunks() -> Iterator[bytes]:
        yield b'{"partner_ids": ['
        for _ in range(2000):
            yield b'"partner-000000000000000000000000000000",'
        yield b'"x"]}'

    answer = api.post(
        "/v1/scores", content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413


def test_refuse_activity_of_another_partner(api: httpx.Client) -> None:
    """Check that a row of another partner is refused naming table, row and column."""
    answer = api.post(
        "/v1/score-activity",
        json={
            "partner_id": "P001",
            "as_of": AS_OF,
            "tables": {
                "deals": [
                    {"deal_id": "D1", "partner_id": "P001"},
                    {"deal_id": "D2", "partner_id": "P999"},
                ]
            },
        },
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "body.tables.deals.1.partner_id"


def test_refuse_activity_with_column_outside_contract(api: httpx.Client) -> None:
    """Check that a column the contract does not know is refused, naming it."""
    answer = api.post(
        "/v1/score-activity",
        json={
            "partner_id": "P001",
            "as_of": AS_OF,
            "tables": {"deals": [{"deal_id": "D1", "partner_id": "P001", "colour": 1}]},
        },
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "body.tables.deals.0.colour"


def test_refuse_activity_without_deals(api: httpx.Client) -> None:
    """Check that posted activity without the required deals table gets 422."""
    answer = api.post(
        "/v1/score-activity",
        json={"partner_id": "P001", "as_of": AS_OF, "tables": {"partners": []}},
    )
    assert answer.status_code == 422
    assert "body.tables.deals" in answer.json()["detail"]


def test_answer_unexpected_error_as_json_500_logged_once(
    serve_on_loopback: ServeOnLoopback, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that an unhandled error is a JSON 500 naming the version, logged once."""

    def broken_live(state: ServiceState, request: ActivityRequest) -> dict[str, Any]:
        raise RuntimeError("a bug in live scoring")

    app, registry = stand_in_app(broken_live)
    body = {
        "partner_id": "P001",
        "as_of": AS_OF,
        "tables": {"deals": [{"deal_id": "secret-D1", "partner_id": "P001"}]},
    }
    with serve_on_loopback(app) as url, httpx.Client(base_url=url) as client:
        wait_ready(client)
        with caplog.at_level("INFO"):
            answer = client.post(
                "/v1/score-activity", json=body, headers={"X-API-Key": API_KEY}
            )
    assert answer.status_code == 500
    assert answer.json() == {
        "detail": "internal error; the service log has the details",
        "errors": [],
    }
    assert answer.headers["x-model-version"] == registry.version
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "RuntimeError" in errors[0].getMessage()
    assert "secret-D1" not in caplog.text


def test_keep_payload_and_keys_out_of_logs(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that neither a key nor posted ids appear in the service's log lines."""
    secret_id = "secret-partner-id-4711"
    with caplog.at_level("DEBUG"), service.client() as client:
        client.post("/v1/scores", json={"partner_ids": [secret_id]})
        client.post("/v1/scores", json={"partner_ids": [secret_id, 5]})
        client.post(
            "/v1/admin/reload", headers={"X-API-Key": "wrong-admin-key-wrong-key"}
        )
    text = caplog.text
    assert secret_id not in text
    assert API_KEY not in text
    assert "wrong-admin-key" not in text


def test_switch_versions_atomically_under_load(service: Service) -> None:
    """Check that a reload under concurrent requests fails none of them.

    Every answer names exactly one of the two versions, in its envelope and in each
    record alike, and once the reload has answered every new request names the new
    version.
    """
    registry = service.registry
    registry.delay = 0.3
    stop = threading.Event()

    def hammer() -> list[tuple[int, set[str]]]:
        seen = []
        with service.client() as client:
            while not stop.is_set():
                answer = client.post(
                    "/v1/scores", json={"partner_ids": ["P001", "P003"]}
                )
                body = answer.json()
                versions = {body["model_version"], answer.headers["x-model-version"]}
                versions |= {r["model_version"] for r in body["results"]}
                seen.append((answer.status_code, versions))
        return seen

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(hammer) for _ in range(4)]
            time.sleep(0.2)
            registry.version = "2"
            with service.client(ADMIN_KEY) as admin:
                reloaded = admin.post("/v1/admin/reload")
            time.sleep(0.2)
            stop.set()
            seen = [item for future in futures for item in future.result()]
    finally:
        registry.delay = 0.0
    assert reloaded.status_code == 200
    assert reloaded.json()["previous_version"] == "1"
    assert reloaded.json()["model_version"] == "2"
    assert {status for status, _ in seen} == {200}
    assert all(len(versions) == 1 for _, versions in seen)
    assert {v for _, versions in seen for v in versions} == {"1", "2"}
    with service.client() as client:
        assert (
            client.post("/v1/scores", json={"partner_ids": []}).json()["model_version"]
            == "2"
        )


def test_keep_serving_when_reload_fails(service: Service) -> None:
    """Check that a failed reload answers 503 and leaves the current version served."""
    before = service.registry.version
    service.registry.fail = True
    try:
        with service.client(ADMIN_KEY) as admin:
            answer = admin.post("/v1/admin/reload")
    finally:
        service.registry.fail = False
    assert answer.status_code == 503
    assert f"still serving version {before}" in answer.json()["detail"]
    with service.client() as client:
        assert client.get("/readyz").status_code == 200


def test_answer_503_until_loaded_then_ready_after_reload(
    serve_on_loopback: ServeOnLoopback,
) -> None:
    """Check that a service whose first load failed is unready until a reload works."""
    registry = StandInRegistry()
    registry.fail = True
    app = create_app(
        service_settings(), loader=registry.load, settle_gc=False, live_process=False
    )
    with (
        serve_on_loopback(app) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        deadline = time.monotonic() + 30
        while "loading" in (client.get("/readyz").json().get("reason") or ""):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        unready = client.get("/readyz")
        scores = client.post(
            "/v1/scores", json={"partner_ids": []}, headers={"X-API-Key": API_KEY}
        )
        registry.fail = False
        reload = client.post("/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY})
        ready = client.get("/readyz")
    assert unready.status_code == 503
    assert "no model under alias" in unready.json()["reason"]
    assert scores.status_code == 503
    assert reload.json()["previous_version"] is None
    assert ready.status_code == 200


def test_match_committed_openapi_document() -> None:
    """Check that serving/openapi.json is what the app produces (re-export if not)."""
    committed = OPENAPI_PATH.read_text(encoding="utf-8")
    assert committed == render_openapi(build_openapi()), (
        "serving/openapi.json is out of date; run python -m serving.openapi"
    )


def fuzzed_app(fast_path: bool = True) -> FastAPI:
    """An app on stand-ins with its state loaded, for in-process (ASGI) calls."""
    registry = StandInRegistry()
    app = create_app(
        service_settings(),
        loader=registry.load,
        live_scorer=stand_in_live,
        settle_gc=False,
        live_process=False,
        fast_path=fast_path,
    )
    app.state.holder.swap(registry.load(app.state.settings))
    return app


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"partner_ids": ["P002", "nobody", "P001", "P002"]}', {}),
        (b'{"partner_ids": [], "lang": "ja", "as_of": "2024-12-01"}', {}),
        (b'{"partner_ids": ["P001"], "as_of": "2024-11-30"}', {}),
        (b'{"partner_ids": ["P001"], "lang": "xx"}', {}),
        (b'{"partner_ids": [NaN]}', {}),
        (b'{"partner_ids": ["P001"]}', {"X-API-Key": "wrong-key-wrong-key-wrong"}),
        (b'{"partner_ids": ["P001"]}', {"content-type": "text/plain"}),
        (
            b'{"partner_ids": ["P001"]}',
            {"content-type": "application/json; charset=utf-8"},
        ),
        (orjson.dumps({"partner_ids": [f"P{i}" for i in range(51)]}), {}),
    ],
)
def test_answer_alike_with_and_without_fast_path(
    content: bytes, headers: dict[str, str]
) -> None:
    """Check that the fast path answers exactly as the route does, or defers to it."""

    async def ask(fast_path: bool) -> httpx.Response:
        transport = httpx.ASGITransport(app=fuzzed_app(fast_path))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            return await c.post(
                "/v1/scores",
                content=content,
                headers={"X-API-Key": API_KEY, "content-type": "application/json"}
                | headers,
            )

    answers = [
        (answer.status_code, answer.content, answer.headers)
        for answer in (asyncio.run(ask(True)), asyncio.run(ask(False)))
    ]
    (status, body, fast_headers), (route_status, route_body, route_headers) = answers
    assert (status, body) == (route_status, route_body)
    assert fast_headers["content-type"] == route_headers["content-type"]
    assert fast_headers["x-model-version"] == route_headers["x-model-version"]


openapi_schema = schemathesis.openapi.from_path(OPENAPI_PATH)
openapi_schema.app = fuzzed_app()


@openapi_schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_answer_every_generated_request_without_server_error(
    case: schemathesis.Case,
) -> None:
    """Check that requests generated from openapi.json never get a 5xx.

    Answers must also match the documented status codes, content types and response
    schemas. Acceptance of every schema-valid request is not required: valid days
    other than the snapshot's answer 409, over-long batches 422.
    """
    case.call_and_validate(
        headers={"X-API-Key": ADMIN_KEY},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
