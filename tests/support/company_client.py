"""A company chatting through the web widget's Socket.IO channel, for tests.

A real python-socketio client connected to the public gateway (through the gateway's
proxy), speaking the widget protocol of ``bot.channels.socketio``. It uses HTTP
long-polling: python-engineio 4.15's asyncio websocket transport needs aiohttp ≥ 3.10
(``aiohttp.ClientWSTimeout``), and Rasa pins 3.9; the gateway's websocket proxying is
tested frame by frame in ``tests/test_web_gateway.py``. It runs its own event loop in a thread so synchronous
tests (Playwright) can drive it.
"""
from __future__ import annotations

import asyncio
import secrets
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import socketio


class CompanyClient:
    """``connect()``, ``send(text)``, then ``wait_for(...)`` the replies received."""

    def __init__(self, base_url: str, transports: Sequence[str] = ("polling",)) -> None:
        self.base_url = base_url
        self.transports = list(transports)
        self.session_id = secrets.token_hex(16)
        self.received: List[Dict[str, Any]] = []
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._sio: Optional[socketio.AsyncClient] = None

    @property
    def sender_id(self) -> str:
        """The conversation's id in Rasa and in the console."""
        return f"web:{self.session_id}"

    def _run(self, coroutine, timeout: float = 120.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def connect(self) -> "CompanyClient":
        async def connect() -> None:
            sio = socketio.AsyncClient(reconnection=False)
            confirmed = asyncio.Event()

            @sio.on("bot_uttered")
            async def on_bot_uttered(data: Dict[str, Any]) -> None:
                with self._changed:
                    self.received.append(data)
                    self._changed.notify_all()

            @sio.on("session_confirm")
            async def on_session_confirm(_: Any) -> None:
                confirmed.set()

            await sio.connect(self.base_url, transports=self.transports, socketio_path="socket.io")
            await sio.emit("session_request", {"session_id": self.session_id})
            await asyncio.wait_for(confirmed.wait(), 60)
            self._sio = sio

        self._run(connect())
        return self

    def send(self, text: str) -> None:
        """Send one user message (does not wait for the answer)."""
        payload = {"message": text, "session_id": self.session_id, "message_id": secrets.token_hex(12)}
        self._run(self._sio.emit("user_uttered", payload))

    def wait_for(
        self, predicate: Callable[[Dict[str, Any]], bool], after: int = 0, timeout: float = 60.0
    ) -> Dict[str, Any]:
        """The first message received at index ``after`` or later matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self.received[after:]:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no matching message within {timeout} s; received: {self.received[after:]}"
                    )
                self._changed.wait(remaining)

    def messages_since(self, index: int, settle_s: float = 0.0) -> List[Dict[str, Any]]:
        """Messages received from ``index`` on, after waiting ``settle_s`` seconds."""
        time.sleep(settle_s)
        with self._changed:
            return list(self.received[index:])

    def close(self) -> None:
        if self._sio is not None:
            self._run(self._sio.disconnect())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
