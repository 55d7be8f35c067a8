"""What a client may send: request bodies bounded in size, in time and in total memory, and
parsed without ever turning bad input into a server error.

Three limits, each with its own answer:

- size, per route (`read_body(request, limit)`): a body over `limit` bytes is refused with 413
  as soon as that is known, from its Content-Length or while reading; no more than `limit`
  bytes (plus one network chunk) are ever held for it;
- time (`BodyGuard`, for every request): the whole body must arrive within `body_timeout_s` of
  the request's start; a stalled upload gets 408 and its connection is closed;
- memory in total (`BodyGuard`): request bodies held by requests in progress never add up to more
  than `max_in_flight_bytes`; a request that would pass it gets 503 with Retry-After.

A client that disconnects while sending is not an error of the server: it is logged at debug
level, without a traceback, and nothing is answered or recorded.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

DEFAULT_BODY_TIMEOUT_S = 30.0


class Rejected(Exception):
    """A request refused before anything was recorded or forwarded: the HTTP `status` to answer
    and the `reason` it is counted under (llm_rejected_requests_total, contract.REJECT_REASONS)."""

    status = 400
    reason = "invalid_payload"
    body_unread = False  # the rest of the body was not read: the answer closes the connection

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    def headers(self) -> dict[str, str]:
        """Headers the answer needs besides the error body."""
        headers = {"connection": "close"} if self.body_unread else {}
        if self.status == 503:
            headers["retry-after"] = "1"
        return headers


class InvalidPayload(Rejected):
    """JSON, but not what the route accepts."""


class Unauthorized(Rejected):
    """The route needs a bearer token and the request did not carry the right one."""

    status = 401
    reason = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"www-authenticate": 'Bearer realm="llm-exporter"'}


class MalformedBody(Rejected):
    """Not JSON (or not UTF-8, or nested deeper than the parser goes)."""

    reason = "malformed_body"


class BodyTooLarge(Rejected):
    """The request body is larger than the route accepts."""

    status = 413
    reason = "body_too_large"
    body_unread = True

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than this route's limit of {limit} bytes")
        self.limit = limit


class BodyTimeout(Rejected):
    """The request body did not arrive within the body timeout."""

    status = 408
    reason = "body_timeout"
    body_unread = True


class ServerBusy(Rejected):
    """Accepting this body would pass the memory budget for request bodies in progress."""

    status = 503
    reason = "server_busy"
    body_unread = True


async def read_body(request: Request, limit: int) -> bytes:
    """The request body; BodyTooLarge as soon as it is known to be over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        if chunk:
            chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """The body as JSON; MalformedBody (with a message fit for the caller) when it is not."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise MalformedBody("body is nested too deeply to be read") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from None


# (path, rejection) -> the answer, in that route's own error format; it also counts the rejection
Reject = Callable[[str, Rejected], Response]


class BodyGuard:
    """ASGI middleware (the outermost one) enforcing the body timeout and the in-flight memory
    budget for every HTTP request, and ending client disconnects quietly.

    A rejection raised while the body is read (or by the app and left unhandled) is answered
    with `reject(path, rejection)`, which counts it and builds the route's error response, unless
    the response had already started, in which case the connection is just closed.
    """

    def __init__(self, app: ASGIApp, *, body_timeout_s: float, max_in_flight_bytes: int, reject: Reject) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s
        self.max_in_flight_bytes = max_in_flight_bytes
        self.reject = reject
        self.in_flight_bytes = 0  # only touched from the event loop's thread

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        held = 0
        body_done = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal body_done, held
            if body_done:  # after the body: waiting for a disconnect is not bounded
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(f"the request body did not arrive within {self.body_timeout_s:g} s") from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            size = len(message.get("body", b""))
            if size:
                if self.in_flight_bytes + size > self.max_in_flight_bytes:
                    raise ServerBusy("too many request bodies in progress; retry shortly")
                held += size
                self.in_flight_bytes += size
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except Rejected as rejection:
            response = self.reject(scope["path"], rejection)
            if not started:  # else the response is under way: the connection is simply closed
                await response(scope, receive, send)
        except ClientDisconnect:
            log.debug("client disconnected while sending its request", extra={
                "event": "client_disconnected", "path": scope["path"][:200]})
        finally:
            self.in_flight_bytes -= held
