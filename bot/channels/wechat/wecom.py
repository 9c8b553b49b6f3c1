"""WeCom (企业微信) application channel for Rasa, built on wechatpy's ``enterprise`` API.

WeCom always encrypts (:class:`~bot.channels.wechat.callback.WeComCallbacks`). Replies go
through the application message API (``message/send``), so each callback is
acknowledged at once; retries of a message are deduplicated exactly like the Official
Account's (:class:`~bot.channels.wechat.turns.TurnRegistry`). Sender ids are
``wecom:<UserID>``; staff replies reach the member through :meth:`get_output_channel`.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel
from sanic import response
from sanic.response import HTTPResponse
from wechatpy.enterprise import WeChatClient
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

from bot.channels.common import WECOM_CHANNEL_PREFIX
from bot.channels.wechat.access_token import (
    OwnedTokenClientMixin,
    SharedTokenStore,
    call_off_loop,
    shared_token_store,
)
from bot.channels.wechat.callback import (
    Callback,
    CallbackInput,
    WeComCallbacks,
    check_aes_key,
    dedupe_key,
    immediate_reply,
    incoming_text,
)
from bot.channels.wechat.turns import TurnRegistry
from bot.settings import get_settings
from bot.shared_state import KeyValueState, channel_state

CHANNEL_NAME = WECOM_CHANNEL_PREFIX
DEFAULT_API_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"


class WeComClient(OwnedTokenClientMixin, WeChatClient):
    """wechatpy's WeCom client with an owned token and a configurable API URL."""

    token_path = "gettoken"

    def __init__(
        self, corp_id: str, corp_secret: str, api_base_url: str, timeout: float = 10,
        shared_token: Optional[SharedTokenStore] = None,
    ) -> None:
        super().__init__(corp_id, corp_secret, timeout=timeout, auto_retry=False)
        self._own_token(api_base_url, shared_token)

    def _token_params(self) -> Dict[str, str]:
        return {"corpid": self.corp_id, "corpsecret": self.secret}


class WeComApi:
    """The WeCom application's message API."""

    def __init__(
        self, corp_id: str, corp_secret: str, agent_id: str, api_base_url: str = DEFAULT_API_BASE_URL,
        shared_token: Optional[SharedTokenStore] = None,
    ) -> None:
        self.agent_id = int(agent_id)
        self.client = WeComClient(corp_id, corp_secret, api_base_url, shared_token=shared_token)

    async def send_text(self, user_id: str, text: str) -> None:
        await call_off_loop(
            self.client.token_owner, lambda: self.client.message.send_text(self.agent_id, user_id, text)
        )


class WeComInput(CallbackInput):
    """Rasa input channel for a WeCom self-built application (see
    ``credentials.example.yml``). Callback URL: ``https://<public host>/webhooks/wecom/webhook``.
    """

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        required = ("corp_id", "corp_secret", "agent_id", "token", "encoding_aes_key")
        if not all(credentials.get(key) for key in required):
            cls.raise_missing_credentials_exception()
        check_aes_key(credentials["encoding_aes_key"], "WECOM_ENCODING_AES_KEY")
        settings = get_settings()
        return cls(
            crypto=WeComCrypto(
                credentials["token"], credentials["encoding_aes_key"], credentials["corp_id"]
            ),
            api=WeComApi(
                credentials["corp_id"],
                credentials["corp_secret"],
                credentials["agent_id"],
                credentials.get("api_base_url") or DEFAULT_API_BASE_URL,
                shared_token=shared_token_store(
                    settings, f"wecom:{credentials['corp_id']}:{credentials['agent_id']}"
                ),
            ),
            state=channel_state(settings),
            greeting_payload=credentials.get("enter_payload") or CallbackInput.greeting_payload,
        )

    def __init__(
        self,
        crypto: WeComCrypto,
        api: WeComApi,
        greeting_payload: str = CallbackInput.greeting_payload,
        state: Optional[KeyValueState] = None,
    ) -> None:
        self.api = api
        self.callbacks = WeComCallbacks(crypto)
        self.greeting_payload = greeting_payload
        # No passive replies: every answer goes through the message API.
        self.turns = TurnRegistry(CHANNEL_NAME, api, reply_timeout=None, state=state)

    async def _answer(self, callback: Callback) -> HTTPResponse:
        message = callback.message
        meaning = incoming_text(message, self.greeting_payload)
        if meaning.text is not None:
            metadata = {"userid": message.source, "agent_id": self.api.agent_id, "msg_type": message.type}
            await self.turns.answer(dedupe_key(message), message.source, meaning.text, metadata)
        else:
            reply = await immediate_reply(meaning, CHANNEL_NAME, message.source)
            if reply:
                self.turns.notify(message.source, reply)
        # WeCom needs an acknowledgement within 5 s; the answer travels separately.
        return response.text("")
