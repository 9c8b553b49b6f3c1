"""Build the platform matching index before the action server takes requests.

The index (``bot.platform.matching``) holds the active companies, products and experts
in memory and takes seconds to build. Building it in a ``before_server_start``
listener means the action server only answers its health check (which
``python -m bot run`` waits for) once matching is ready: the first supplier or expert
request is as fast as any other, and a platform database that cannot be read shows up
in the action server's log at start rather than in a user's conversation.

Once serving, the server follows the data: every ``FOLLOW_SECONDS`` it asks for the
index, so that after ``python -m bot import-export`` the withdrawn rows stop being
offered and the new index is built without waiting for a user's request (and
``import-export --wait`` learns when it is served).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import pluggy
from sanic import Sanic

from bot.platform.matching import get_index

logger = logging.getLogger(__name__)

FOLLOW_SECONDS = 2.0

hookimpl = pluggy.HookimplMarker("rasa_sdk")


def build_platform_index(_app: Any, _loop: Any) -> None:
    """Build the index now; the server starts serving when this returns.

    A failure is logged and the server starts anyway: policy answers and handoff do
    not need the platform data, and each matching request retries and reports it."""
    started = time.monotonic()
    try:
        index = get_index()
    except Exception:  # logged here, retried by the first matching request
        logger.exception("the platform index could not be built; matching retries on the first request")
        return
    logger.info("platform index ready: data version %s in %.1f s", index.version, time.monotonic() - started)


async def follow_platform_data() -> None:
    """Check the platform data version forever; a failed check is logged and retried."""
    while True:
        await asyncio.sleep(FOLLOW_SECONDS)
        try:
            await asyncio.to_thread(get_index)
        except Exception:
            logger.warning("checking the platform data failed; retrying in %.0f s", FOLLOW_SECONDS, exc_info=True)


async def start_following(app: Sanic, _loop: Any) -> None:
    app.ctx.platform_follower = asyncio.create_task(follow_platform_data())


async def stop_following(app: Sanic, _loop: Any) -> None:
    follower = getattr(app.ctx, "platform_follower", None)
    if follower is not None:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


@hookimpl
def attach_sanic_app_extensions(app: Sanic) -> None:
    """rasa_sdk's hook: build the index before the server starts serving, then follow
    the data while it serves."""
    app.register_listener(build_platform_index, "before_server_start")
    app.register_listener(start_following, "after_server_start")
    app.register_listener(stop_following, "before_server_stop")
