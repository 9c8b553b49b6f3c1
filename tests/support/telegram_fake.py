"""The npm package ``telegram-test-api`` (a fake Telegram Bot API) driven from Python.

:func:`start_telegram_test_api` starts it with Node on a free port (through
``telegram_test_api.js``); :class:`TelegramTestUser` plays a Telegram user through the
package's client HTTP API (``/sendMessage``, ``/sendCallback``, ``/getUpdates``).
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest

from tests.support.sanic_server import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("telegram_test_api.js")


@dataclass
class TelegramTestApi:
    """A running telegram-test-api: its base URL and the file its errors go to."""

    url: str
    log_path: Path

    def log(self) -> str:
        """What the server reported on stderr so far (e.g. refused webhook deliveries)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def start_telegram_test_api(log_dir: Path) -> Iterator[TelegramTestApi]:
    """Start telegram-test-api on a free port (errors logged under ``log_dir``)."""
    node = shutil.which("node")
    if node is None or not (PROJECT_ROOT / "node_modules" / "telegram-test-api").is_dir():
        pytest.fail("telegram-test-api is not installed: run `npm install` at the repository root")
    port = free_port()
    log_path = log_dir / "telegram-test-api.log"
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [node, str(LAUNCHER), str(port)],
            cwd=PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        line = process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"telegram-test-api did not start: {line}{log_path.read_text()}")
        yield TelegramTestApi(url=line.split(" ", 1)[1].strip(), log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


class TelegramTestUser:
    """A Telegram user in one private chat with the bot ``token``."""

    def __init__(self, api_url: str, token: str, chat_id: int, first_name: str = "测试用户") -> None:
        self.api_url = api_url
        self.token = token
        self.chat_id = chat_id
        self.user = {"id": chat_id, "is_bot": False, "first_name": first_name}
        self.chat = {"id": chat_id, "type": "private", "first_name": first_name}
        self._http = httpx.AsyncClient(base_url=api_url, timeout=10)

    async def close(self) -> None:
        await self._http.aclose()

    async def say(self, text: str) -> None:
        """Send ``text`` to the bot."""
        await self._post(
            "/sendMessage",
            {"botToken": self.token, "from": self.user, "chat": self.chat,
             "date": int(time.time()), "text": text},
        )

    async def press(self, bot_message: Dict[str, Any], title: str) -> None:
        """Press the inline button ``title`` under ``bot_message`` (as received)."""
        data = next(
            button["callback_data"]
            for row in bot_message["reply_markup"]["inline_keyboard"]
            for button in row
            if button["text"] == title
        )
        await self.send_callback(bot_message, data)

    async def send_callback(self, bot_message: Dict[str, Any], data: str) -> None:
        """Send a callback query with any ``data`` (a forged one, say) from ``bot_message``."""
        await self._post(
            "/sendCallback",
            {
                "botToken": self.token,
                "from": self.user,
                "chat_instance": str(self.chat_id),
                "message": {
                    "message_id": bot_message["message_id"],
                    "date": int(time.time()),
                    "chat": self.chat,
                    "text": bot_message.get("text", ""),
                },
                "data": data,
            },
        )

    async def received(self, count: int = 1, timeout: float = 15.0) -> List[Dict[str, Any]]:
        """Wait until the bot has sent at least ``count`` new messages here; return them all.

        Each message is the Bot API ``sendMessage`` body plus its ``message_id``.
        """
        messages: List[Dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = await self._post("/getUpdates", {"token": self.token, "chatId": self.chat_id})
            for update in result:
                messages.append({**update["message"], "message_id": update["messageId"]})
            if len(messages) >= count:
                return messages
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"expected {count} message(s) from the bot, got {len(messages)}: {messages}"
                )
            await asyncio.sleep(0.05)

    async def chat_actions(self) -> List[str]:
        """The chat actions (``typing`` …) the bot sent to this chat so far, oldest first."""
        result = await self._post("/chatActions", {"token": self.token, "chatId": self.chat_id})
        return [entry["action"] for entry in result]

    async def nothing_more(self, wait: float = 1.0) -> List[Dict[str, Any]]:
        """Wait ``wait`` seconds and return whatever the bot sent meanwhile (should be [])."""
        await asyncio.sleep(wait)
        result = await self._post("/getUpdates", {"token": self.token, "chatId": self.chat_id})
        return [update["message"] for update in result]

    async def _post(self, path: str, body: Dict[str, Any]) -> Optional[Any]:
        response = await self._http.post(path, json=body)
        response.raise_for_status()
        return response.json()["result"]
