"""Webcam streams that nobody watches any more are closed within seconds, freeing their slot.

Gradio keeps a stream's concurrency slot until the client calls /close or the stream's time_limit
passes, so two clients that join and vanish would hold both slots for minutes. The live handler notes
each frame here (`note_frame`) and starts the watchdog on the server's event loop (`watch`).
No Gradio import: the page (a gr.Blocks) is passed in.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from .limits import LIVE_IDLE_SECONDS

logger = logging.getLogger(__name__)
LIVE_ACTIVITY: dict[str, float] = {}  # session -> when its stream last handled a frame (time.monotonic)
_WATCHDOG: dict = {}


def note_frame(session: str) -> None:
    LIVE_ACTIVITY[session] = time.monotonic()


def watch(blocks: Any) -> None:
    """Start `close_abandoned_streams` for ``blocks`` on the running event loop, once per loop."""
    loop = asyncio.get_running_loop()
    if _WATCHDOG.get("loop") is not loop:
        _WATCHDOG.update(loop=loop, task=loop.create_task(close_abandoned_streams(blocks)))


async def close_abandoned_streams(blocks: Any, idle: float | None = None) -> None:
    """Close webcam streams whose client went away or sent no frame for ``idle`` seconds (default
    LIVE_IDLE_SECONDS). Closing is what Gradio's own /close route does."""
    while True:
        idle = LIVE_IDLE_SECONDS if idle is None else idle
        await asyncio.sleep(min(1.0, idle / 4))
        queue, now = blocks._queue, time.monotonic()
        running = set()
        for job in list(queue.active_jobs):
            for event in job or []:
                if not event.streaming or event.closed:
                    continue
                running.add(event.session_hash)
                last = LIVE_ACTIVITY.setdefault(event.session_hash, now)
                if not event.alive or now - last > idle:
                    logger.info("closing an abandoned webcam stream (%.0f s without a frame)", now - last)
                    event.run_time, event.closed = math.inf, True
                    event.signal.set()
        for session in set(LIVE_ACTIVITY) - running:
            if now - LIVE_ACTIVITY[session] > idle:
                del LIVE_ACTIVITY[session]
