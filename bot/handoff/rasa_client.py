"""RasaClient: the one place that talks to Rasa's token-protected HTTP API.

Rasa listens on loopback with its HTTP API behind a token (:mod:`bot.rasa_server`); the staff console uses
this client to deliver staff replies on the user's own channel, to pause the assistant
while staff hold a conversation, and to resume it afterwards.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional
from urllib.parse import quote

import aiohttp

from bot.channels.common import STAFF_FLAG_KEY, STAFF_TYPING_PATH, staff_reply_event

logger = logging.getLogger(__name__)

#: Metadata on a bot event that marks it as written by a person (the convention of
#: ``bot.channels.common``: Rasa passes metadata to the output channel, which shows the
#: message as from staff).
STAFF_METADATA_KEY = STAFF_FLAG_KEY


class RasaApiError(RuntimeError):
    """Rasa refused or failed a request (status and body in the message)."""


class RasaClient:
    """Async client for the few Rasa HTTP API calls the console needs."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 15.0) -> None:
        if not token:
            raise ValueError("a Rasa API token is required (RASA_TOKEN)")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: Optional[aiohttp.ClientSession] = None

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _request(
        self, method: str, path: str, params: Optional[Dict[str, str]] = None, body: Any = None
    ) -> Any:
        query = {"token": self._token, **(params or {})}
        url = f"{self.base_url}{path}"
        try:
            async with self._http().request(method, url, params=query, json=body) as response:
                text = await response.text()
                if response.status >= 400:
                    raise RasaApiError(f"{method} {path}: HTTP {response.status}: {text[:300]}")
                return await response.json(content_type=None) if text else None
        except aiohttp.ClientError as error:
            raise RasaApiError(f"{method} {path}: {error}") from error

    @staticmethod
    def _conversation_path(sender_id: str, tail: str) -> str:
        return f"/conversations/{quote(sender_id, safe=':@')}/{tail}"

    async def append_events(
        self, sender_id: str, events: List[Dict[str, Any]], *, deliver: bool = False
    ) -> Dict[str, Any]:
        """Append events to a tracker; ``deliver`` sends bot events to the user on
        the channel they last wrote on (``output_channel=latest``)."""
        params = {"include_events": "NONE"}
        if deliver:
            params.update({"output_channel": "latest", "execute_side_effects": "true"})
        return await self._request(
            "POST", self._conversation_path(sender_id, "tracker/events"), params, events
        )

    async def send_staff_message(self, sender_id: str, text: str, staff_name: str) -> None:
        """Deliver a staff member's reply to the user on their channel."""
        await self.append_events(sender_id, [staff_reply_event(text, staff_name)], deliver=True)

    async def send_notice(self, sender_id: str, text: str) -> None:
        """Deliver a short system notice (e.g. "staff will be with you shortly")."""
        await self.append_events(
            sender_id, [{"event": "bot", "text": text, "metadata": {"handoff_notice": True}}], deliver=True
        )

    async def staff_typing(self, sender_id: str, channel: str, typing: bool) -> bool:
        """Show the user on ``channel`` that staff are (``typing``) or stopped typing
        (:mod:`bot.channels.typing`); True when the channel showed it."""
        answer = await self._request(
            "POST", STAFF_TYPING_PATH, body={"sender_id": sender_id, "channel": channel, "typing": typing}
        )
        return bool(isinstance(answer, dict) and answer.get("shown"))

    async def pause(self, sender_id: str) -> None:
        """Stop the assistant from answering this conversation."""
        await self.append_events(sender_id, [{"event": "pause"}])

    async def resume(self, sender_id: str) -> None:
        """Let the assistant answer again; slots and history are untouched."""
        await self.append_events(sender_id, [{"event": "resume"}])

    async def tracker(self, sender_id: str) -> Dict[str, Any]:
        """The conversation's tracker (current state, no event list)."""
        return await self._request(
            "GET", self._conversation_path(sender_id, "tracker"), {"include_events": "NONE"}
        )
