"""Build the platform matching index before the action server takes requests.

The index (``bot.platform.matching``) holds the active companies, products and experts
in memory and takes seconds to build. Building it in a ``before_server_start``
listener means the action server only answers its health check (which
``python -m bot run`` waits for) once matching is ready: the first supplier or expert
request is as fast as any other, and a platform database that cannot be read shows up
in the action server's log at start rather than in a user's conversation.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import pluggy
from sanic import Sanic

from bot.platform.matching import get_index

logger = logging.getLogger(__name__)

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


@hookimpl
def attach_sanic_app_extensions(app: Sanic) -> None:
    """rasa_sdk's hook: build the index before the server starts serving."""
    app.register_listener(build_platform_index, "before_server_start")
