"""A cap on the size of request bodies, enforced before a body is read.

Gradio reads a request's whole JSON body into memory and keeps each value it was sent in
that session's copy of the page config, even when it then refuses the value: a visitor who
sends 20 MB where a number belongs costs 20 MB per session for as long as the session is
kept. Every call of this page fits in a few kilobytes, so a body over MAX_BODY is refused
with HTTP 413: at once when its Content-Length says so, else (a chunked body has none) as
soon as the bytes received pass the cap. Uploads (`/upload`, and the Sketchpad's pieces
sent to `/component_server`) have a cap of their own, that of one picture file.

`BodyLimit` is a pure ASGI middleware (no buffering of its own), installed through
`launch(app_kwargs={"middleware": [...]})`: Gradio passes `app_kwargs` to the FastAPI app it
builds, so the cap holds for `python app.py`, a hosted Space and a test server alike.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 256 * 1024
UPLOAD_PATHS = (  # where a request carries a file (Gradio checks its size, max_file_size)
    "/gradio_api/upload",
    "/gradio_api/component_server",
    "/gradio_api/component_server/",
)
FORM_OVERHEAD = 64 * 1024  # a multipart body's boundaries and fields, beside its file


class BodyTooLarge(Exception):
    """The body received so far is over the cap."""


class BodyLimit:
    """Refuse (HTTP 413) a request whose body is larger than `max_body` bytes, or, for an
    upload, than `max_upload` bytes plus the form's overhead."""

    def __init__(self, app, max_body: int = MAX_BODY, max_upload: int | None = None):
        self.app = app
        self.max_body = max_body
        self.max_upload = max_body if max_upload is None else max_upload + FORM_OVERHEAD

    def limit(self, path: str) -> int:
        return self.max_upload if path.endswith(UPLOAD_PATHS) else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await refuse(send, limit)  # the body is never read
            return
        received = 0
        over = started = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise BodyTooLarge
            return message

        async def answer(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's reply to a body it got only in part: replaced below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, answer)
        except BodyTooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not started:
            await refuse(send, limit)


async def refuse(send: Send, limit: int) -> None:
    """An HTTP 413 whose JSON body says the cap (as Gradio's own errors: `detail`)."""
    body = json.dumps({"detail": f"request body too large: at most {limit} bytes"}).encode()
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
