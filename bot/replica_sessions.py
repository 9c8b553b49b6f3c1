"""Which Rasa replica owns a Socket.IO session, readable from the session id itself.

A Socket.IO (Engine.IO) session lives in the memory of the Rasa server that opened it;
every later request of the session (polling GETs and POSTs, the websocket upgrade)
must reach that server. With several replicas (:mod:`bot.replicas`) each Rasa server
starts its session ids with its own prefix, and nginx's Rasa balancer sends a request
carrying ``sid=`` to the replica that prefix names, and to no other (:mod:`bot.nginx`).
A cookie did not do this reliably: one browser has one cookie for all its tabs, and a
cookie-sticky pool with backups sends requests to a backup while nginx re-checks a
restarted replica (an Engine.IO long-poll holds that check open for up to 25 s), where
the session is unknown ("Invalid session").
"""
from __future__ import annotations

from typing import Callable

from socketio import AsyncServer


def session_id_prefix(replica: int) -> str:
    """The prefix of every session id opened by Rasa replica ``replica`` ('.' never
    occurs in Engine.IO's own URL-safe base64 ids)."""
    if replica < 0:
        raise ValueError(f"a replica index is 0 or more, not {replica}")
    return f"r{replica}."


def own_session_ids(server: AsyncServer, replica: int) -> None:
    """Make ``server`` start every session id it opens with ``replica``'s prefix."""
    engine = server.eio
    random_id: Callable[[], str] = engine.generate_id
    prefix = session_id_prefix(replica)
    engine.generate_id = lambda: prefix + random_id()
