"""Live scoring in its own process: results, states, errors and a lost process."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.errors import RequestFieldError
from serving.schemas import ActivityRequest
from serving.state import ServiceState, build_state
from serving.worker import CHILD_NICENESS, LiveWorker, LiveWorkerLostError

ROOT = Path(__file__).resolve().parents[2]


class StandInModel:
    """Just enough of a model for a state (picklable: defined at module level)."""

    def __init__(self, version: str) -> None:
        self.version = version

    @property
    def feature_names(self) -> list[str]:
        return ["deals_90d"]

    @property
    def metadata(self) -> dict[str, Any]:
        return {"name": "ghost-partner", "version": self.version}

    def predict_proba(self, frame: Any) -> Any:
        raise NotImplementedError("not used by these tests")

    def predict_contributions(self, frame: Any) -> Any:
        raise NotImplementedError("not used by these tests")


def state_of(version: str) -> ServiceState:
    record = (
        b'{"partner_id": "P1", "as_of": "2024-12-01", "model_name": "ghost-partner", '
        b'"model_version": "%s"}' % version.encode()
    )
    return build_state(
        StandInModel(version),
        {"en": {"P1": record}},
        alias="champion",
        source="stand-in",
        stages={"deals_90d": "priority"},
    )


def request(partner_id: str = "P1") -> ActivityRequest:
    return ActivityRequest.model_validate(
        {
            "partner_id": partner_id,
            "as_of": "2024-12-01",
            "tables": {"deals": [{"deal_id": "D1", "partner_id": partner_id}]},
        }
    )


def where_scored(state: ServiceState, body: ActivityRequest) -> dict[str, Any]:
    """Scorer: which process scored, with which model version and snapshot size."""
    return {
        "pid": os.getpid(),
        "version": state.model.metadata["version"],
        "partner_id": body.partner_id,
        "snapshot_partners": state.snapshot.partners,
        "niceness": os.nice(0),
    }


def refuse(state: ServiceState, body: ActivityRequest) -> dict[str, Any]:
    """Scorer: a 409 about as_of."""
    raise RequestFieldError.about("body.as_of", "not that day", status=409)


def sleep_then_score(state: ServiceState, body: ActivityRequest) -> dict[str, Any]:
    """Scorer: keeps the child busy for two seconds, then scores."""
    time.sleep(2.0)
    return where_scored(state, body)


def mark_then_score(state: ServiceState, body: ActivityRequest) -> dict[str, Any]:
    """Scorer: leaves a file named after the partner in MARK_DIR, then scores."""
    (Path(os.environ["MARK_DIR"]) / body.partner_id).touch()
    return where_scored(state, body)


def sleep_then_refuse(state: ServiceState, body: ActivityRequest) -> dict[str, Any]:
    """Scorer: busy for a second, then a refusal quoting a posted value."""
    time.sleep(1.0)
    raise RequestFieldError.about("body.tables", "value 'secret-posted-value'")


def die(state: ServiceState, body: ActivityRequest) -> dict[str, Any]:
    """Scorer: the process ends abruptly."""
    os._exit(3)


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveWorker]:
    """A live worker whose process can import this module's scorers."""
    monkeypatch.syspath_prepend(str(ROOT))
    live = LiveWorker()
    yield live
    live.close()


def test_score_in_child_process_with_each_request_state(worker: LiveWorker) -> None:
    """Check that scoring runs in another process, on the state each request names,
    without the snapshot."""
    one, two = state_of("1"), state_of("2")

    async def scenario() -> list[dict[str, Any]]:
        return [
            await worker.score(where_scored, state, request())
            for state in (one, one, two, one)
        ]

    answers = asyncio.run(scenario())

    assert {a["pid"] for a in answers} != {os.getpid()}
    assert len({a["pid"] for a in answers}) == 1
    assert [a["version"] for a in answers] == ["1", "1", "2", "1"]
    assert {a["snapshot_partners"] for a in answers} == {0}
    assert {a["niceness"] for a in answers} == {min(19, os.nice(0) + CHILD_NICENESS)}


def test_raise_request_field_error_from_child_intact(worker: LiveWorker) -> None:
    """Check that a refusal raised while scoring keeps its status, field and text."""
    with pytest.raises(RequestFieldError, match=r"body\.as_of: not that day") as caught:
        asyncio.run(worker.score(refuse, state_of("1"), request()))

    assert caught.value.status == 409
    assert caught.value.errors == [{"field": "body.as_of", "message": "not that day"}]


def test_replace_lost_child_process(worker: LiveWorker) -> None:
    """Check that a dead scoring process gives a clear error and is replaced."""
    state = state_of("1")

    with pytest.raises(LiveWorkerLostError, match="live scoring process stopped"):
        asyncio.run(worker.score(die, state, request()))
    answer = asyncio.run(worker.score(where_scored, state, request()))

    assert answer["version"] == "1"


def test_score_after_idle_child_killed(worker: LiveWorker) -> None:
    """Check that a child killed while idle costs the next request nothing: it is
    scored in a new child, on the same state."""
    state = state_of("1")
    first = asyncio.run(worker.score(where_scored, state, request()))
    os.kill(first["pid"], signal.SIGKILL)

    answer = asyncio.run(worker.score(where_scored, state, request()))

    assert answer["pid"] != first["pid"]
    assert answer["version"] == "1"


def test_drop_cancelled_task_that_carried_new_state(
    worker: LiveWorker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that a queued task cancelled by its client never runs, and the task
    after it, which counted on the state the cancelled one carried, still scores
    on that state."""
    monkeypatch.setenv("MARK_DIR", str(tmp_path))
    one, two = state_of("1"), state_of("2")

    async def scenario() -> tuple[list[dict[str, Any]], bool]:
        def start(scorer: Any, state: ServiceState, partner: str) -> asyncio.Task[Any]:
            return asyncio.create_task(worker.score(scorer, state, request(partner)))

        # one task runs and two wait in the process pool's call queue, so the
        # fourth, the first with state two, is still cancellable
        busy = [start(sleep_then_score, one, "busy")]
        busy += [start(mark_then_score, one, f"queued-{i}") for i in range(2)]
        await asyncio.sleep(0.1)
        cancelled = start(mark_then_score, two, "cancelled")
        await asyncio.sleep(0.1)
        cancelled.cancel()
        after = start(mark_then_score, two, "after")
        answers = await asyncio.gather(*busy, after)
        return answers, cancelled.cancelled()

    answers, was_cancelled = asyncio.run(scenario())

    assert was_cancelled
    assert [a["version"] for a in answers] == ["1", "1", "1", "2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "after",
        "queued-0",
        "queued-1",
    ]


def test_score_after_idle_child_death_noticed(worker: LiveWorker) -> None:
    """Check that a child that died while idle, and whose pool has already noticed
    (it then refuses new tasks), is replaced for the next request."""
    state = state_of("1")
    first = asyncio.run(worker.score(where_scored, state, request()))
    os.kill(first["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 20
    # the pool's manager thread marks it broken shortly after the child dies
    while not getattr(worker.pool, "_broken", False) and time.monotonic() < deadline:
        time.sleep(0.05)

    answer = asyncio.run(worker.score(where_scored, state, request()))

    assert answer["pid"] != first["pid"]
    assert answer["version"] == "1"


def test_keep_error_of_abandoned_task_out_of_log(
    worker: LiveWorker, caplog: pytest.LogCaptureFixture
) -> None:
    """Check that a task whose client left, and which then fails in the child,
    leaves no traceback (with the posted values it quotes) in the log."""
    import gc

    state = state_of("1")

    async def scenario() -> None:
        await worker.score(where_scored, state, request())  # child started
        task = asyncio.create_task(worker.score(sleep_then_refuse, state, request()))
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.sleep(2.0)  # the child finishes the abandoned task

    with caplog.at_level("DEBUG"):
        asyncio.run(scenario())
        gc.collect()

    assert "secret-posted-value" not in caplog.text
    assert "never retrieved" not in caplog.text


def test_stop_waits_for_child_exit(worker: LiveWorker) -> None:
    """Check that stopping the worker ends its child process before returning."""
    child = asyncio.run(worker.score(where_scored, state_of("1"), request()))["pid"]

    worker.stop()

    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_answer_503_when_live_process_dies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that the route answers 503 with a retry hint when the child dies, and
    scores the next request in a new child."""
    import httpx

    from ghost_model.settings import Settings
    from serving.app import create_app

    monkeypatch.syspath_prepend(str(ROOT))
    settings = Settings.model_validate({"api_keys": ["k" * 32]})
    app = create_app(
        settings, loader=lambda _: state_of("1"), live_scorer=die, settle_gc=False
    )
    app.state.holder.swap(state_of("1"))
    body = request().model_dump(exclude_none=True)

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            return await c.post(
                "/v1/score-activity", json=body, headers={"X-API-Key": "k" * 32}
            )

    try:
        lost = asyncio.run(post())
        app.state.live_scorer = where_scored
        scored = asyncio.run(post())
    finally:
        app.state.live_worker.close()

    assert lost.status_code == 503
    assert "live scoring process stopped" in lost.json()["detail"]
    assert scored.status_code == 200
    assert scored.json()["result"]["pid"] != os.getpid()
