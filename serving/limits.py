"""The request body limit: a JSON 413 before a large body is read into memory."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.state import dumps


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
        body = dumps({"detail": too_large_message(self.max_bytes), "errors": []})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
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
