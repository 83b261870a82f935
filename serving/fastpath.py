"""A fast path for well-formed ``POST /v1/scores`` requests.

The route ``POST /v1/scores`` in :mod:`serving.app` is the documented contract: it
checks the key, validates the body and formats every error. Most calls from a CRM are
valid, though, and for those the framework's routing and dependency machinery costs
more than the answer itself. This middleware, the outermost of the application's own,
answers exactly the requests that the route would answer with 200 — a loaded state, a
known key, a JSON body with a declared length within the body limit that validates, a
batch within the limit, the snapshot's day and language — with the same bytes, by the
same :func:`serving.answers.scores_answer`, and the same ``X-Model-Version`` header.
Anything else (a missing key, a bad body, an error of any kind) is passed on
unchanged, body included, to the inner middleware and the route, so errors have one
implementation.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ghost_model.settings import Settings
from serving.answers import scores_answer
from serving.auth import KEY_HEADER, KeyRing
from serving.errors import RequestFieldError
from serving.middleware import VERSION_HEADER
from serving.schemas import ScoresRequest
from serving.state import ServiceState, StateHolder

PATH = "/v1/scores"
KEY = KEY_HEADER.lower().encode()
JSON_TYPE = b"application/json"


class ScoresFastPath:
    """Answer valid, authorised score requests directly; pass on everything else."""

    def __init__(
        self,
        app: ASGIApp,
        keys: KeyRing,
        settings: Settings,
        holder: StateHolder,
        enabled: bool = True,
    ) -> None:
        self.app = app
        self.keys = keys
        self.settings = settings
        self.holder = holder
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.holder.current
        if (
            not self.enabled
            or state is None
            or scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or not self.acceptable(scope)
        ):
            await self.app(scope, receive, send)
            return
        body, more = await read_body(receive)
        answer = None if more else self.answer(state, body)
        if answer is None:
            await self.app(scope, replay(body, more, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(answer)).encode()),
                    (b"content-type", JSON_TYPE),
                    (VERSION_HEADER, state.model_version.encode("latin-1", "replace")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def acceptable(self, scope: Scope) -> bool:
        """A known key, a JSON content type and a declared length within the limit.

        A request that repeats one of these headers goes to the route, which reads
        them as the rest of the app does.
        """
        key = content_type = length = None
        for name, value in scope["headers"]:
            if name == KEY:
                if key is not None:
                    return False
                key = value
            elif name == b"content-type":
                if content_type is not None:
                    return False
                content_type = value
            elif name == b"content-length":
                length = value
        if content_type is None or length is None or not length.isdigit():
            return False
        return (
            int(length) <= self.settings.max_body_bytes
            and content_type.split(b";")[0].strip().lower() == JSON_TYPE
            and key is not None
            and self.keys.role_of(key.decode("latin-1")) is not None
        )

    def answer(self, state: ServiceState, body: bytes) -> bytes | None:
        """The 200 answer, or ``None`` when the route must answer instead."""
        try:
            request = ScoresRequest.model_validate_json(body)
            return scores_answer(state, request, self.settings)
        except (ValidationError, RequestFieldError, ValueError):
            return None


async def read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, and whether the client is still sending (a disconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A ``receive`` that hands the already read body to the route first."""
    sent = more

    async def receive_again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again
