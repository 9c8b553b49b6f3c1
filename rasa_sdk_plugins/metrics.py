"""Metrics and log format of the action server (see :mod:`bot.metrics`).

Counts every call of a custom action, the calls that failed (rasa_sdk answers an
exception or a missing action with an error status) and their durations, and serves
them on ``METRICS_PORT``. Log lines written while an action runs name the conversation.
"""
from __future__ import annotations

import time
from typing import Any

import pluggy
from sanic import Sanic
from sanic.exceptions import SanicException

from bot.metrics import (
    ACTION_ERRORS,
    ACTION_RUNS,
    ACTION_SECONDS,
    configure_logging,
    conversation_context,
    serve_metrics,
)
from bot.settings import get_settings

hookimpl = pluggy.HookimplMarker("rasa_sdk")


def _start(_app: Any, _loop: Any) -> None:
    settings = get_settings()
    configure_logging(settings)
    serve_metrics(settings)


async def _before_action(request: Any) -> None:
    if request.path != "/webhook":
        return
    try:
        # Sanic parses the body once and keeps it: rasa_sdk's webhook reads the same
        # object (the whole tracker, which grows with the conversation).
        body = request.json
    except SanicException:
        body = None  # rasa_sdk answers the malformed call itself
    request.ctx.action = str(body.get("next_action") or "unknown") if isinstance(body, dict) else "unknown"
    request.ctx.started = time.perf_counter()
    sender_id = (body.get("tracker") or {}).get("sender_id") if isinstance(body, dict) else None
    request.ctx.conversation = conversation_context(sender_id)
    request.ctx.conversation.__enter__()


async def _after_action(request: Any, response: Any) -> None:
    action = getattr(request.ctx, "action", None)
    if action is None:
        return
    ACTION_RUNS.labels(action).inc()
    ACTION_SECONDS.observe(time.perf_counter() - request.ctx.started)
    if response is not None and response.status >= 400:
        ACTION_ERRORS.labels(action).inc()
    request.ctx.conversation.__exit__(None, None, None)


@hookimpl
def attach_sanic_app_extensions(app: Sanic) -> None:
    """rasa_sdk's hook: serve metrics, count action calls."""
    app.register_listener(_start, "before_server_start")
    app.register_middleware(_before_action, "request")
    app.register_middleware(_after_action, "response")
