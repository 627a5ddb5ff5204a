"""ASGI middleware: a cap on request bodies, and one structured log line per request.

Log lines carry a request id, method, route, status, duration and the caller's role: never
names, phones, keys or query strings. A crash is one more line: its type, where, and the request id.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loansvc.web.failures import log_crash
from loansvc.web.problems import problem_response

log = logging.getLogger("loansvc.requests")


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413, whether announced by Content-Length or streamed.

    It also refuses URLs carrying NUL characters with 400: PostgreSQL cannot compare text holding
    them, so an id like `abc%00` would otherwise end as a 500.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            response = problem_response(
                None, 400, "BAD_REQUEST", "the URL must not contain NUL (%00) characters"
            )
            await response(scope, receive, send)
            return
        limit = self.max_bytes
        if scope["path"].endswith("/import"):
            limit = self.max_bytes * 20  # monthly repayment files are larger than JSON bodies
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0
        started = False
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                # FastAPI turns the cut-off body into its own 400; the answer is 413, sent below
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            None, 413, "PAYLOAD_TOO_LARGE", f"the request body is larger than {limit} bytes"
        )
        await response(scope, receive, send)


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # A crash is answered and logged here, with the request id, as one line: its type and
            # where it happened, never its text (a database error quotes the values it refused).
            # It is not re-raised: the server would log it again with a full traceback, and close
            # the client's connection.
            log_crash(exc, request_id, scope["path"])
            if not started:
                response = problem_response(
                    None,
                    500,
                    "INTERNAL_ERROR",
                    "an unexpected error occurred; it has been logged",
                    instance=scope["path"],
                )
                await response(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):
                route = scope.get("route")
                log.info(
                    json.dumps(
                        {
                            "event": "request",
                            "request_id": request_id,
                            "method": scope["method"],
                            "route": getattr(route, "path", scope["path"]),
                            "status": status,
                            "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                            "role": scope.get("state", {}).get("role"),
                        }
                    )
                )
