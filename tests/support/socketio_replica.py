"""A Rasa server's Socket.IO side, alone, as its own process (tests kill it with SIGKILL):
sessions live in its memory and their ids carry its replica index, like the real one's.

``python -m tests.support.socketio_replica NAME INDEX PORT``; the ``who`` event answers
the server's name and the session id.
"""
from __future__ import annotations

import sys
from typing import Any, Dict

import socketio
from aiohttp import web

from bot.replica_sessions import own_session_ids


def app(name: str, replica: int) -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp")
    own_session_ids(sio, replica)

    @sio.on("who")
    async def who(sid: str, _data: Any = None) -> Dict[str, str]:
        return {"server": name, "sid": sid}

    application = web.Application()
    sio.attach(application)
    application.router.add_get("/status", lambda _: web.json_response({"server": name}))
    return application


if __name__ == "__main__":
    name, replica, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    web.run_app(app(name, replica), host="127.0.0.1", port=port, print=None)
