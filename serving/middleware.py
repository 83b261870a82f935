"""ASGI middleware: the request body limit, the model version on every answer, and
the answer to an unexpected error.

* :class:`BodyLimitMiddleware` answers a JSON 413 before a large body is read.
* :class:`ModelVersionMiddleware` adds ``X-Model-Version`` (the concrete version of
  the served model) to every answer, errors included, once a model is loaded.
* :class:`UnexpectedErrorMiddleware` turns an exception no route handled into a JSON
  500, logged once; inside the version middleware, so that answer names the version
  too (Starlette's own last-resort handler sits outside every middleware, and logs
  the exception a second time when it re-raises it).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.state import StateHolder, dumps

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal error; the service log has the details"
"""What a 500 says; the log has the exception."""

VERSION_HEADER = b"x-model-version"
STATE_SCOPE_KEY = "ghost_model.state"
"""Where a request keeps the state it started with (read by the routes)."""


class BodyTooLargeError(HTTPException):
    """A request body longer than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit))


def too_large_message(limit: int) -> str:
    """What a 413 says."""
    return (
        f"request body larger than {limit} bytes (GHOST_MAX_BODY_BYTES); send fewer "
        "ids or rows per request"
    )


class BodyLimitMiddleware:
    """Answer 413 to bodies over ``max_bytes``, by header or by counting chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length > self.max_bytes:
            await self.refuse(send)
            return
        if length is None:
            receive = self.counting(receive)
        await self.app(scope, receive, send)

    def counting(self, receive: Receive) -> Receive:
        """``receive`` that raises :class:`BodyTooLargeError` past the limit."""
        seen = 0

        async def receive_counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLargeError(self.max_bytes)
            return message

        return receive_counted

    async def refuse(self, send: Send) -> None:
        """Send the JSON 413 without reading the body."""
        await send_error(send, 413, too_large_message(self.max_bytes), close=True)


class UnexpectedErrorMiddleware:
    """Answer an exception that no route handled with a JSON 500, logged once.

    The log line names the method, the path and the exception (with its traceback),
    never the body. Once an answer has started nothing else can be sent, so the
    exception goes on to the server, as it would without this middleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            if started:
                raise
            log.error(
                "internal error on %s %s: %s",
                scope.get("method", "?"),
                scope.get("path", "?"),
                type(exc).__name__,
                exc_info=exc,
            )
            await send_error(send, 500, INTERNAL_ERROR)


async def send_error(
    send: Send, status: int, detail: str, *, close: bool = False
) -> None:
    """Send a JSON error answer (``{detail, errors: []}``) straight to the server.

    ``close`` asks the client to close the connection (after a body left unread).
    """
    body = dumps({"detail": detail, "errors": []})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def declared_length(scope: Scope) -> int | None:
    """The Content-Length of the request, when it declares a valid one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class ModelVersionMiddleware:
    """Fix each request's state at its start; name its version in a header.

    The state is put in the request's scope, so the route answers from the very
    state whose version the header names, even when a reload swaps it meanwhile.
    """

    def __init__(self, app: ASGIApp, holder: StateHolder) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.holder.current
        if state is None:
            await self.app(scope, receive, send)
            return
        scope[STATE_SCOPE_KEY] = state
        version = state.model_version.encode("latin-1", "replace")

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((VERSION_HEADER, version))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_version)
