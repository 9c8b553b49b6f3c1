"""The staff console: a web application mounted by the gateway under ``/console``.

:func:`setup_console` wires it into an aiohttp application: the security middleware
(login, sessions, CSRF, headers), the pages and JSON API, and the objects the
handlers share (store, live hub, Rasa client, ingestor, task board).
"""
from __future__ import annotations

from typing import Optional

from aiohttp import web

from bot.console.desk import PRESENCE_KEY, Presence
from bot.console.security import CONFIG_KEY, STORE_KEY, STREAMS_KEY, ConsoleConfig, SessionStreams, console_guard
from bot.console.tasks import TaskBoard
from bot.console.views import HUB_KEY, INGESTOR_KEY, RASA_KEY, SHARED_STATE_KEY, TASKS_KEY, add_routes
from bot.handoff.ingest import Ingestor, LiveHub
from bot.handoff.rasa_client import RasaClient
from bot.handoff.store import HandoffStore
from bot.shared_state import KeyValueState, MemoryState


def setup_console(
    app: web.Application,
    *,
    store: HandoffStore,
    hub: LiveHub,
    rasa: RasaClient,
    ingestor: Ingestor,
    config: ConsoleConfig,
    tasks: TaskBoard,
    presence: Optional[Presence] = None,
    shared_state: Optional[KeyValueState] = None,
) -> None:
    """Mount the console on ``app`` (must be called before the app starts). ``presence``
    and ``shared_state`` (the typing throttle) are shared by several gateways; without
    them each gateway keeps its own in memory."""
    app[STORE_KEY] = store
    app[CONFIG_KEY] = config
    app[STREAMS_KEY] = SessionStreams()
    app[HUB_KEY] = hub
    app[RASA_KEY] = rasa
    app[INGESTOR_KEY] = ingestor
    app[TASKS_KEY] = tasks
    app[SHARED_STATE_KEY] = shared_state or MemoryState()
    if presence is not None:
        app[PRESENCE_KEY] = presence
    app.middlewares.append(console_guard)
    add_routes(app)


__all__ = ["setup_console", "ConsoleConfig"]
