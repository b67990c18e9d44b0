"""Each visitor's share of the queue, and no work for results no one reads.

Gradio's queue is first come, first served up to `max_size` waiting events: one client
that sends requests faster than they are served fills it, and every other visitor gets
"queue full". Here each event waiting in the queue counts against its visitor: at most
SESSION_SHARE per session (a browser tab, a gradio_client Client), and, once the queue is
half full, at most ADDRESS_SHARE per address. Beyond that a request is refused with HTTP
429 and a message that says why; below half, one address may use the free half (many
visitors behind one router, or behind a proxy that does not say who they are: see
`client_address`).

A visitor reads results over a stream: the browser and gradio_client on
`/queue/data?session_hash=...` (opened right after joining the queue, unless one is open),
the two-step HTTP API on `/call/NAME/EVENT_ID`. The `ResultStreams` middleware counts the
streams open per session and per event. An event runs only once a stream is open for it:
one that has waited UNREAD_GRACE_S with none is dropped without running (its client is
gone, or never meant to read), and a late reader gets an error that says so. Gradio itself
drops the events of a stream that closes; this covers the client that never opens one, so
a client that sends requests and never reads costs queue places, never computation.

Gradio has no hook for either (checked against gradio 6.31): `VisitorShares` wraps two
methods of the app's `Queue` instance, `push` (admission) and `get_events` (which picks
the next events to run, under the queue's lock), and reads its lists of waiting events.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import gradio as gr
from fastapi import HTTPException
from gradio.queueing import Event, Queue
from gradio.server_messages import ProcessCompletedMessage

from .bodies import Receive, Scope, Send

SESSION_SHARE = 4
ADDRESS_SHARE = 8
UNREAD_GRACE_S = 5.0
TOO_MANY = 429
STREAM_PATHS = ("/gradio_api/queue/data",)
CALL_PREFIX = "/gradio_api/call/"


def client_address(request: Any) -> str:
    """The visitor's address as the server (uvicorn) sees it: the peer's, or, from a
    proxy it trusts (FORWARDED_ALLOW_IPS, by default the machine itself), the one the
    proxy names in X-Forwarded-For."""
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


class VisitorShares:
    """The shares of one demo's queue (see the module's docstring)."""

    def __init__(
        self,
        queue: Queue,
        session_share: int = SESSION_SHARE,
        address_share: int = ADDRESS_SHARE,
        grace_s: float = UNREAD_GRACE_S,
    ):
        self.queue = queue
        self.session_share = session_share
        self.address_share = address_share
        self.grace_s = grace_s
        self.streams: Counter[str] = Counter()  # open result streams, by session and event
        self.dropped = 0
        self._push, self._get_events = queue.push, queue.get_events
        queue.push, queue.get_events = self.push, self.get_events

    @classmethod
    def of(cls, demo: gr.Blocks) -> VisitorShares:
        """The shares of `demo`'s queue (`demo.queue()` first), installed once."""
        queue = demo._queue
        shares = getattr(queue.push, "__self__", None)
        return shares if isinstance(shares, cls) else cls(queue)

    def waiting(self) -> Iterator[Event]:
        for event_queue in self.queue.event_queue_per_concurrency_id.values():
            yield from event_queue.queue

    async def push(self, body, request, username):
        """Gradio's `Queue.push`, unless the visitor already has its share waiting."""
        self.drop_unread()
        waiting = list(self.waiting())
        session = body.session_hash
        if session is not None and sum(e.session_hash == session for e in waiting) >= (
            self.session_share
        ):
            raise HTTPException(
                TOO_MANY,
                f"too many requests waiting: at most {self.session_share} per visitor; "
                "wait for the results of earlier ones",
            )
        max_size = self.queue.max_size
        address = client_address(request)
        if max_size is not None and 2 * len(waiting) >= max_size:
            mine = sum(client_address(e.request) == address for e in waiting)
            if mine >= self.address_share:
                raise HTTPException(
                    TOO_MANY,
                    f"too many requests waiting from {address}: at most "
                    f"{self.address_share} while the queue is busy; try again shortly",
                )
        return await self._push(body, request, username)

    def get_events(self):
        """Gradio's `Queue.get_events`, choosing among the events someone reads: the
        others are out of the lists it looks at while it chooses, then back in place."""
        self.drop_unread()
        waiting = {eq: eq.queue for eq in self.queue.event_queue_per_concurrency_id.values()}
        for event_queue, events in waiting.items():
            event_queue.queue = [e for e in events if self.read(e)]
        picked = None
        try:
            picked = self._get_events()
        finally:
            chosen = set(picked[0]) if picked else set()
            for event_queue, events in waiting.items():
                events[:] = [e for e in events if e not in chosen]
                event_queue.queue = events
        return picked

    def read(self, event: Event) -> bool:
        """Whether a stream is open for `event`'s results."""
        return self.streams[event.session_hash] > 0 or self.streams[event._id] > 0

    def drop_unread(self) -> None:
        """Take out of the queue the events that waited `grace_s` with no one reading
        them, leaving an error for a reader who comes late. Synchronous, so no other
        coroutine sees the queue half changed."""
        oldest = time.monotonic() - self.grace_s
        for event_queue in self.queue.event_queue_per_concurrency_id.values():
            gone = [e for e in event_queue.queue if e.enqueue_time < oldest and not self.read(e)]
            for event in gone:
                self.queue.send_message(
                    event,
                    ProcessCompletedMessage(
                        output={"error": "dropped: no one read the result of this request"},
                        success=False,
                    ),
                )
                event_queue.queue.remove(event)
                self.queue.event_ids_to_events.pop(event._id, None)
                self.dropped += 1


class ResultStreams:
    """ASGI middleware: counts, in `shares.streams`, the result streams open per session
    (`/queue/data?session_hash=S`) and per event (`GET /call/NAME/EVENT_ID`)."""

    def __init__(self, app, shares: VisitorShares):
        self.app = app
        self.shares = shares

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = stream_key(scope) if scope["type"] == "http" else None
        if key is None:
            await self.app(scope, receive, send)
            return
        self.shares.streams[key] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.shares.streams[key] -= 1
            if self.shares.streams[key] <= 0:
                del self.shares.streams[key]


def stream_key(scope: Scope) -> str | None:
    """The session hash or event id whose results a request streams, else None."""
    if scope["method"] != "GET":
        return None
    path = scope["path"]
    if path.endswith(STREAM_PATHS):
        query = parse_qs(scope.get("query_string", b"").decode("latin1"))
        return query.get("session_hash", [None])[0]
    _, found, rest = path.partition(CALL_PREFIX)
    parts = rest.strip("/").split("/")
    if found and len(parts) >= 2 and parts[-1]:  # NAME/EVENT_ID or v2/NAME/EVENT_ID
        return parts[-1]
    return None
