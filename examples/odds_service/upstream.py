"""The fake odds provider: answers ``GET /odds/<match>`` after a set latency, counts requests.

Run it as one uvicorn process (the count lives in its memory)::

    ODDS_UPSTREAM_LATENCY_MS=50 python -m uvicorn examples.odds_service.upstream:app

``GET /stats`` returns ``{"requests": n, "by_match": {...}}``: the odds
requests received so far, in all and per match.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

LATENCY = float(os.environ.get("ODDS_UPSTREAM_LATENCY_MS", "50")) / 1000
_count = 0
_by_match: dict[str, int] = {}


async def respond(send: Send, status: int, body: dict[str, Any]) -> None:
    """Send *body* as a JSON response."""
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application."""
    global _count
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path: str = scope["path"]
    if path == "/stats":
        await respond(send, 200, {"requests": _count, "by_match": _by_match})
    elif path.startswith("/odds/"):
        _count += 1
        number = _count
        match = path.removeprefix("/odds/")
        _by_match[match] = _by_match.get(match, 0) + 1
        await asyncio.sleep(LATENCY)
        await respond(send, 200, {"match": match, "home": 2.1, "n": number, "at": time.time()})
    else:
        await respond(send, 404, {"error": f"no route {path!r}"})
