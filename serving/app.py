"""The scoring service for CRMs: explained partner risk scores over HTTP.

Routes (all but the health checks need an ``X-API-Key``)::

    POST /v1/scores           explained scores of partner ids, from the snapshot
    POST /v1/score-activity   explained score of one partner's posted activity
    GET  /v1/model            the model and snapshot being served
    POST /v1/admin/reload     load the alias's current version (admin key)
    GET  /healthz             the process answers
    GET  /readyz              a model and a snapshot are loaded (else 503)

The model and the snapshot are loaded in the lifespan and swapped as one state on
reload (see :mod:`serving.state`). Answers of the score routes are assembled from
JSON bytes; no request path runs pandas except live scoring of posted activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException as StarletteHTTPException

from ghost_model import __version__
from ghost_model.settings import Settings
from serving.answers import check_activity_size, scores_answer
from serving.auth import KeyRing
from serving.deps import AdminKey, ApiKey, AppSettings, CurrentState
from serving.errors import RequestFieldError
from serving.fastpath import ScoresFastPath
from serving.live import (
    LiveScorer,
    check_single_partner,
    score_activity,
    warm_live_path,
)
from serving.middleware import (
    INTERNAL_ERROR,
    BodyLimitMiddleware,
    ModelVersionMiddleware,
    UnexpectedErrorMiddleware,
)
from serving.schemas import (
    ActivityRequest,
    ActivityResponse,
    ErrorResponse,
    HealthResponse,
    ModelResponse,
    ReadyResponse,
    ReloadResponse,
    ScoresRequest,
    ScoresResponse,
)
from serving.state import (
    ServiceState,
    StateHolder,
    StateLoader,
    dumps,
    load_service_state,
    settle_memory,
)
from serving.worker import LiveWorker, LiveWorkerLostError

log = logging.getLogger(__name__)

JSON = "application/json"
LIVE_CONCURRENCY = 2
LIVE_RETRY_AFTER = 2
"""Seconds a client is asked to wait when live scoring is busy."""
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""The service sets up no OpenTelemetry providers, so FastAPI's native telemetry
stays off rather than looking for global providers on every request."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "No key, or an unknown key, in X-API-Key.",
        409: "The request conflicts with the loaded snapshot.",
        413: "The request body is larger than GHOST_MAX_BODY_BYTES.",
        422: "A field is missing or invalid; `errors` names it.",
        503: "No model or snapshot loaded yet, the live scoring process stopped, or "
        "GHOST_MAX_LIVE_WAITING score-activity requests are already in progress "
        "(retry; Retry-After says when).",
    }.items()
}


def create_app(
    settings: Settings | None = None,
    *,
    loader: StateLoader = load_service_state,
    live_scorer: LiveScorer = score_activity,
    keys: KeyRing | None = None,
    settle_gc: bool = True,
    fast_path: bool = True,
    live_process: bool = True,
) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings
        Service settings; default read from the environment.
    loader
        Builds the state (model and snapshot) at start and on reload; default: the
        registry alias and the snapshot file of ``settings``.
    live_scorer
        Scores posted activity with a state's model.
    keys
        Accepted keys; default read from ``settings`` (refuses to run keyless unless
        ``allow_unauthenticated``).
    settle_gc
        After each load, warm live scoring up once, then collect and freeze the
        heap, so garbage collection does not walk the model, the snapshot and the
        libraries' caches while requests are served (off in quick tests).
    fast_path
        Answer valid score requests without the framework's routing (same bytes;
        see :mod:`serving.fastpath`).
    live_process
        Score posted activity in a child process (see :mod:`serving.worker`), so
        it never competes with snapshot answers for the interpreter lock;
        ``False`` scores in worker threads of this process (quick tests). The
        scorer and the state's model must then be picklable.

    Returns
    -------
    fastapi.FastAPI
        The application; it loads its state when its lifespan starts.
    """
    settings = settings or Settings()
    app = FastAPI(
        title="ghost_model scoring service",
        version=__version__,
        description="Explained risk that a partner goes silent (no new deal in the "
        "next 90 days), by stage, for CRMs. Send a key in the X-API-Key header.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        telemetry=NO_TELEMETRY,
    )
    holder = StateHolder()
    keys = keys or KeyRing.from_settings(settings)
    # Innermost first: each added middleware wraps the ones added before it.
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ModelVersionMiddleware, holder=holder)
    app.add_middleware(
        ScoresFastPath, keys=keys, settings=settings, holder=holder, enabled=fast_path
    )
    app.state.settings = settings
    app.state.keys = keys
    app.state.holder = holder
    app.state.loader = loader
    app.state.live_scorer = live_scorer
    app.state.settle_gc = settle_gc
    app.state.reload_lock = anyio.Lock()
    app.state.live_limiter = anyio.CapacityLimiter(LIVE_CONCURRENCY)
    app.state.live_worker = LiveWorker() if live_process else None
    app.state.live_waiting = 0
    add_error_handlers(app)
    add_routes(app)
    return app


def operation_id(route: APIRoute) -> str:
    """OpenAPI operation ids are the route functions' names (``post_scores``)."""
    return route.name


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start loading the model and the snapshot; answer /readyz 503 until loaded.

    Loading (registry look-up, model and snapshot files) runs beside the server, so
    the health checks answer while it lasts; a failure is logged, kept as the reason
    GET /readyz gives, and can be retried with POST /v1/admin/reload.
    """
    app.state.holder.error = "loading the model and the snapshot"
    task = app.state.initial_load = asyncio.create_task(initial_load(app))
    yield
    if not task.done():
        log.info("shutting down while the model is still loading")
    if app.state.live_worker is not None:
        await anyio.to_thread.run_sync(app.state.live_worker.stop)


async def initial_load(app: FastAPI) -> None:
    """The first load, under the reload lock; failures only make the app unready."""
    async with app.state.reload_lock:
        with contextlib.suppress(Exception):  # logged in load_state
            await load_state(app)


async def load_state(app: FastAPI) -> ServiceState | None:
    """Load a fresh state and make it current; return the one it replaced.

    A failure leaves the current state (if any) in place and is logged and kept as
    the reason GET /readyz gives.
    """
    holder: StateHolder = app.state.holder
    loader: StateLoader = app.state.loader
    started = time.perf_counter()
    try:
        state = await anyio.to_thread.run_sync(loader, app.state.settings)
    except Exception as exc:
        holder.error = f"{type(exc).__name__}: {exc}"
        log.error("could not load the model and snapshot: %s", holder.error)
        raise
    if app.state.settle_gc:
        await warm_live_scoring(app, state)
    previous = holder.swap(state)
    pause = settle_memory() if app.state.settle_gc else 0.0
    log.info(
        "serving %s version %s with the snapshot as of %s (%d partners), loaded in "
        "%.2f s (gc settle %.3f s)",
        state.model_name,
        state.model_version,
        state.snapshot.as_of,
        state.snapshot.partners,
        time.perf_counter() - started,
        pause,
    )
    return previous


async def warm_live_scoring(app: FastAPI, state: ServiceState) -> None:
    """Warm live scoring up with ``state``, in its process or in a thread here."""
    worker: LiveWorker | None = app.state.live_worker
    if worker is None:
        await anyio.to_thread.run_sync(warm_live_path, state)
        return
    try:
        await worker.warm(state)
    except Exception as exc:  # only a warm-up: live requests report their errors
        log.warning(
            "could not start the live scoring process: %s: %s", type(exc).__name__, exc
        )


async def score_live(
    app: FastAPI, state: ServiceState, body: ActivityRequest, request: Request
) -> Any:
    """One explained score of posted activity, off the event loop.

    Live scoring takes a good fraction of a second of CPU per request, so at most
    ``max_live_waiting`` requests are scored or wait at once; one more is answered
    503 with ``Retry-After`` rather than joining a queue that only grows. The count
    lives on the event loop, so no lock is needed. A request whose client goes away
    gives up its place at once, and is taken off the queue if it has not started.
    """
    limit = app.state.settings.max_live_waiting
    if app.state.live_waiting >= limit:
        raise StarletteHTTPException(
            status_code=503,
            detail=(
                f"live scoring is busy: {limit} requests are already being scored "
                f"or waiting; retry after {LIVE_RETRY_AFTER} seconds"
            ),
            headers={"Retry-After": str(LIVE_RETRY_AFTER)},
        )
    app.state.live_waiting += 1
    record: Any = None
    failure: Exception | None = None
    try:
        async with anyio.create_task_group() as group:

            async def cancel_when_client_leaves() -> None:
                await until_disconnected(request)
                group.cancel_scope.cancel()

            group.start_soon(cancel_when_client_leaves)
            try:
                record = await _score_live(app, state, body)
            except Exception as exc:  # raised as it is, not in an exception group
                failure = exc
            group.cancel_scope.cancel()
    finally:
        app.state.live_waiting -= 1
    if failure is not None:
        raise failure
    if record is None:
        log.info("live scoring dropped: the client closed the connection")
        raise StarletteHTTPException(
            status_code=499, detail="the client closed the connection"
        )
    return record


async def until_disconnected(request: Request) -> None:
    """Return when the client of ``request`` (whose body has been read) goes away."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _score_live(app: FastAPI, state: ServiceState, body: ActivityRequest) -> Any:
    scorer: LiveScorer = app.state.live_scorer
    worker: LiveWorker | None = app.state.live_worker
    if worker is None:
        return await anyio.to_thread.run_sync(
            scorer, state, body, limiter=app.state.live_limiter
        )
    try:
        return await worker.score(scorer, state, body)
    except LiveWorkerLostError as exc:
        raise StarletteHTTPException(status_code=503, detail=str(exc)) from exc


def add_routes(app: FastAPI) -> None:
    """Register every route on ``app``."""

    @app.post(
        "/v1/scores",
        response_class=Response,
        responses={200: {"model": ScoresResponse, "description": "Scores"}, **_ERRORS},
    )
    async def post_scores(
        _: ApiKey, state: CurrentState, body: ScoresRequest
    ) -> Response:
        """Explained scores of the given partners, read from the score snapshot."""
        return Response(scores_answer(state, body, app.state.settings), media_type=JSON)

    @app.post(
        "/v1/score-activity",
        response_class=Response,
        responses={200: {"model": ActivityResponse, "description": "Score"}, **_ERRORS},
    )
    async def post_score_activity(
        _: ApiKey,
        state: CurrentState,
        settings: AppSettings,
        body: ActivityRequest,
        request: Request,
    ) -> Response:
        """Explained score of one partner's posted activity, computed live."""
        check_activity_size(body, settings.max_activity_rows)
        check_single_partner(body)
        record = await score_live(app, state, body, request)
        head = dumps(
            {"model_name": state.model_name, "model_version": state.model_version}
        )
        return Response(
            head[:-1] + b',"result":' + dumps(record) + b"}", media_type=JSON
        )

    @app.get(
        "/v1/model",
        response_class=Response,
        responses={200: {"model": ModelResponse, "description": "Model"}, **_ERRORS},
    )
    async def get_model(_: ApiKey, state: CurrentState) -> Response:
        """The model version, alias, backtest summary, features and snapshot served."""
        return Response(state.model_json, media_type=JSON)

    @app.post(
        "/v1/admin/reload",
        response_model=ReloadResponse,
        responses={
            403: {"model": ErrorResponse, "description": "Not admin"},
            **_ERRORS,
        },
    )
    async def reload(_: AdminKey) -> ReloadResponse:
        """Load the alias's current version and the snapshot; switch atomically."""
        async with app.state.reload_lock:
            try:
                previous = await load_state(app)
            except Exception as exc:
                raise reload_failed(app.state.holder.current, exc) from exc
        state: ServiceState = app.state.holder.current
        return ReloadResponse(
            previous_version=previous.model_version if previous else None,
            model_version=state.model_version,
            snapshot_as_of=state.snapshot.as_of,
            snapshot_model_version=state.snapshot.model_version,
        )

    @app.get("/healthz", response_model=HealthResponse)
    async def healthz() -> HealthResponse:
        """The process is up and answering."""
        return HealthResponse(status="ok")

    @app.get(
        "/readyz",
        response_model=ReadyResponse,
        responses={503: {"model": ReadyResponse, "description": "Not ready"}},
    )
    async def readyz() -> Response:
        """Ready when a model and a snapshot are loaded; 503 otherwise."""
        state: ServiceState | None = app.state.holder.current
        if state is None:
            body = ReadyResponse(status="not ready", reason=app.state.holder.error)
            return Response(dumps(body.model_dump()), status_code=503, media_type=JSON)
        ready = ReadyResponse(
            status="ready",
            model_version=state.model_version,
            snapshot_as_of=state.snapshot.as_of,
        )
        return Response(dumps(ready.model_dump()), media_type=JSON)


def reload_failed(
    current: ServiceState | None, exc: Exception
) -> StarletteHTTPException:
    """A 503 saying why a reload failed and what is still served."""
    serving = (
        f"still serving version {current.model_version}" if current else "not ready"
    )
    return StarletteHTTPException(
        status_code=503,
        detail=f"reload failed ({type(exc).__name__}: {exc}); {serving}",
    )


def error_body(detail: str, errors: list[dict[str, str]] | None = None) -> bytes:
    """The JSON of an :class:`ErrorResponse`."""
    return dumps({"detail": detail, "errors": errors or []})


def add_error_handlers(app: FastAPI) -> None:
    """Every error is JSON with a sentence; validation errors name their fields."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(RequestFieldError, _on_field_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [describe_error(error) for error in exc.errors()]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    body = error_body(f"invalid request: {summary}{more}", errors)
    return Response(body, status_code=422, media_type=JSON)


async def _on_field_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestFieldError)
    # a 409 is a valid request the loaded snapshot cannot answer, not a bad one
    conflict = exc.status == 409
    kind = "conflicts with the loaded snapshot" if conflict else "invalid request"
    body = error_body(f"{kind}: {exc.message}", exc.errors)
    return Response(body, status_code=exc.status, media_type=JSON)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI's "error parsing the body": the JSON decoder itself gave up
        if isinstance(exc.__cause__, UnicodeDecodeError):
            reason = "not valid JSON (not UTF-8 text)"
        else:
            reason = (
                "JSON this service cannot read (nested too deeply, or a number "
                "with too many digits)"
            )
        errors = [{"field": "body", "message": reason}]
        body = error_body(f"invalid request: body: {reason}", errors)
        return Response(body, status_code=422, media_type=JSON)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return Response(
        error_body(detail),
        status_code=exc.status_code,
        headers=exc.headers,
        media_type=JSON,
    )


async def _on_unexpected_error(request: Request, exc: Exception) -> Response:
    # The last resort, for errors in the middlewares outside UnexpectedErrorMiddleware
    # (the fast path); Starlette logs these a second time when it re-raises them.
    log.error(
        "internal error on %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return Response(error_body(INTERNAL_ERROR), status_code=500, media_type=JSON)


def describe_error(error: Any) -> dict[str, str]:
    """One validation error as ``{field, message}``, without echoing the input."""
    loc = [str(part) for part in error.get("loc", ())]
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "malformed")
        position = loc[1] if len(loc) > 1 else "?"
        return {"field": "body", "message": f"not valid JSON ({reason} at {position})"}
    return {"field": ".".join(loc) or "body", "message": str(error.get("msg", ""))}
