"""What reaches the server at all, checked before Gradio reads a request (an ASGI middleware):

- request bodies are bounded (Gradio's ``max_file_size`` covers only /upload, and a JSON body is
  parsed whole before any handler sees it);
- each client may have only so many events queued or running, one webcam stream and one clip
  analysis, so that one address cannot fill the queue or hold every stream or video slot;
- uploads are limited per client and minute, and refused while Gradio's cache holds too much;
- file payloads naming a URL are refused (the demo takes photos as uploads; Gradio would try to
  download them and leave a cache folder behind for each).

A client is its address; behind a proxy that appends the caller's address to X-Forwarded-For (a
Hugging Face Space: $SPACE_ID is set, or FKP_TRUST_PROXY=1), the last address there.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import limits

API = "/gradio_api/"
BODY_ROUTES = ("queue/join", "run/", "call/", "stream/")
URL_PAYLOAD = re.compile(rb'"path"\s*:\s*"\s*[a-zA-Z][a-zA-Z0-9+.-]*://')
FN_INDEX = re.compile(rb'"fn_index"\s*:\s*(\d+)')
VIDEO_EVENTS = "video"  # the concurrency id of the Video tab's analysis (fkp.demo.page)


def trust_proxy() -> bool:
    return bool(os.environ.get("SPACE_ID")) or os.environ.get("FKP_TRUST_PROXY", "") in ("1", "true", "yes")


def client_of(headers: dict[str, str], peer: str | None) -> str:
    """The client's address: the last X-Forwarded-For entry behind a trusted proxy, else the peer."""
    forwarded = headers.get("x-forwarded-for", "")
    if forwarded and trust_proxy():
        return forwarded.split(",")[-1].strip()
    return peer or "?"


class CacheSize:
    """The bytes in Gradio's cache folder, measured at most every ``every`` seconds."""

    def __init__(self, folder: Callable[[], Path], every: float = 10.0):
        self.folder, self.every, self.measured, self.bytes = folder, every, 0.0, 0
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            if time.monotonic() - self.measured > self.every:
                total = 0
                for root, _, files in os.walk(self.folder()):
                    for name in files:
                        try:
                            total += os.lstat(os.path.join(root, name)).st_size
                        except OSError:
                            pass
                self.bytes, self.measured = total, time.monotonic()
            return self.bytes


class Gate:
    """ASGI middleware applying the bounds above to a Gradio app; ``blocks()`` gives the running
    gr.Blocks (its queue and events), ``cache()`` Gradio's cache folder, ``prune()`` the periodic
    clean-up of old downloads and empty folders (run at most once a minute, on any request)."""

    def __init__(self, app, blocks: Callable[[], Any], cache: Callable[[], Path], prune: Callable[[], None]):
        self.app, self.blocks, self.prune = app, blocks, prune
        self.cache_size = CacheSize(cache)
        self.uploads: dict[str, deque[float]] = defaultdict(deque)
        self.pruned = time.monotonic()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(API):
            return await self.app(scope, receive, send)
        self.prune_now_and_then()
        route = scope["path"][len(API) :]
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        client = client_of(headers, (scope.get("client") or [None])[0])
        if scope["method"] == "POST" and route.startswith("upload"):
            refusal = self.upload_refusal(client)
            if refusal:
                return await respond(send, *refusal)
        if scope["method"] != "POST" or not route.startswith(BODY_ROUTES):
            return await self.app(scope, receive, send)

        limit = limits.MAX_BODY_BYTES
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await respond(send, 413, f"This request is larger than {limit // 2**20} MB.")
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return await respond(send, 413, f"This request is larger than {limit // 2**20} MB.")
        if URL_PAYLOAD.search(body):
            return await respond(send, 400, "Images are taken as uploads, not as addresses on the web.")
        if route.startswith("queue/join"):
            refusal = self.join_refusal(client, body)
            if refusal:
                return await respond(send, *refusal)

        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        return await self.app(scope, replay, send)

    def prune_now_and_then(self) -> None:
        if time.monotonic() - self.pruned > 60:
            self.pruned = time.monotonic()
            try:
                self.prune()
            except OSError:
                pass

    def upload_refusal(self, client: str) -> tuple[int, str] | None:
        recent, now = self.uploads[client], time.monotonic()
        while recent and now - recent[0] > 60:
            recent.popleft()
        if len(recent) >= limits.UPLOADS_PER_MINUTE:
            return 429, f"More than {limits.UPLOADS_PER_MINUTE} uploads in a minute from your address; wait a minute."
        if self.cache_size() > limits.MAX_CACHE_BYTES:
            self.prune()
            return 503, "The server holds too many files at the moment; try again in a few minutes."
        recent.append(now)
        for address in [a for a, times in self.uploads.items() if not times]:  # forget idle clients
            del self.uploads[address]
        return None

    def join_refusal(self, client: str, body: bytes) -> tuple[int, str] | None:
        """Refuse a client's join beyond its share of the queue, or a second webcam stream."""
        blocks = self.blocks()
        queue = getattr(blocks, "_queue", None)
        if queue is None:
            return None
        events = [event for job in list(queue.active_jobs) for event in (job or [])]
        events += [event for waiting in list(queue.event_queue_per_concurrency_id.values()) for event in waiting.queue]
        mine = [event for event in events if self.client_of_event(event) == client]
        if len(mine) >= limits.EVENTS_PER_CLIENT:
            return 429, f"Your address already has {len(mine)} requests waiting or running; wait for them to finish."
        index = FN_INDEX.search(body)
        fn = blocks.fns.get(int(index.group(1))) if index else None
        if fn is not None and fn.connection == "stream":
            streams = [event for event in mine if event.streaming and not event.closed]
            if len(streams) >= limits.STREAMS_PER_CLIENT:
                return 429, "Your address already has a webcam stream open; stop it first."
        if fn is not None and fn.concurrency_id == VIDEO_EVENTS:
            clips = [event for event in mine if event.concurrency_id == VIDEO_EVENTS]
            if len(clips) >= limits.VIDEOS_PER_CLIENT:
                return 429, "Your address already has a clip being analysed or waiting; wait for it to finish."
        return None

    @staticmethod
    def client_of_event(event) -> str:
        request = getattr(event, "request", None)
        if request is None:
            return "?"
        headers = {key.lower(): value for key, value in request.headers.items()}
        return client_of(headers, request.client.host if request.client else None)


async def respond(send, status: int, detail: str) -> None:
    """A JSON error response, as Gradio's own (``{"detail": ...}``)."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
