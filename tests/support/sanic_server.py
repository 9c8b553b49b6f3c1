"""Run a Sanic app (a Rasa channel blueprint) inside the test's event loop."""
from __future__ import annotations

import socket
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Sequence

from sanic import Blueprint, Sanic


def free_port() -> int:
    """Return a TCP port that was free a moment ago (never a fixed port: tests run in parallel)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def serving(
    *blueprints: Blueprint, url_prefix: str = "", input_channels: Sequence[Any] = (), agent: Any = None
) -> AsyncIterator[str]:
    """Serve ``blueprints`` on a free port, running their start/stop listeners; yield the URL.
    ``input_channels`` are listed on the app as Rasa lists its channels; ``agent`` is the
    app's Rasa agent (``app.ctx.agent``), if the channel needs one."""
    # Sanic's start-up "touch-up" rewrites its request handler in place; only in test
    # mode does it keep the original, so that a second app in one process can start.
    Sanic.test_mode = True
    app = Sanic(f"test_{uuid.uuid4().hex}")
    # No start-up banner: it runs ``uname``, which a unit test may not start.
    app.config.MOTD = False
    for blueprint in blueprints:
        app.blueprint(blueprint, url_prefix=url_prefix or None)
    app.ctx.input_channels = list(input_channels)
    if agent is not None:
        app.ctx.agent = agent
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        # Keep-alive connections (the fake Telegram server's webhook calls) would
        # otherwise outlive the test's event loop.
        for connection in list(server.connections):
            connection.close_if_idle()
        server.close()
        await server.wait_closed()
        await server.after_stop()
