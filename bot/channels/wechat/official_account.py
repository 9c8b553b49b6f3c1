"""WeChat Official Account (微信公众号) channel for Rasa, built on wechatpy 1.8.

Callbacks are verified, decrypted (safe mode) and parsed by
:class:`~bot.channels.wechat.callback.OfficialAccountCallbacks`. Each message gets one
Rasa turn (:class:`~bot.channels.wechat.turns.TurnRegistry`); its answer is the passive
reply when ready within ``reply_timeout`` and small enough, otherwise the callback is
answered ``success`` and the answer goes through the customer-service message API
(``message/custom/send``). Staff replies reach the follower through
:meth:`get_output_channel` and the same API.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel
from sanic import response
from sanic.response import HTTPResponse
from wechatpy import WeChatClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import WeChatClientException

from bot.channels.common import WECHAT_CHANNEL_PREFIX
from bot.channels.textual import channel_user_id
from bot.channels.wechat.access_token import (
    OwnedTokenClientMixin,
    SharedTokenStore,
    call_off_loop,
    shared_token_store,
)
from bot.channels.wechat.callback import (
    Callback,
    CallbackInput,
    OfficialAccountCallbacks,
    check_aes_key,
    dedupe_key,
    immediate_reply,
    incoming_text,
)
from bot.channels.wechat.turns import TurnRegistry
from bot.settings import get_settings
from bot.shared_state import KeyValueState, channel_state

logger = logging.getLogger(__name__)

CHANNEL_NAME = WECHAT_CHANNEL_PREFIX
DEFAULT_API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
#: WeChat waits 5 s; what is left covers the network and the gateway.
DEFAULT_REPLY_TIMEOUT = 4.0


class OfficialAccountClient(OwnedTokenClientMixin, WeChatClient):
    """wechatpy's Official Account client with an owned token and a configurable API URL."""

    token_path = "token"

    def __init__(
        self, app_id: str, app_secret: str, api_base_url: str, timeout: float = 10,
        shared_token: Optional[SharedTokenStore] = None,
    ) -> None:
        # auto_retry=False: refreshing on rejection is the owner's job, not each call's.
        super().__init__(app_id, app_secret, timeout=timeout, auto_retry=False)
        self._own_token(api_base_url, shared_token)

    def _token_params(self) -> Dict[str, str]:
        return {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}


class OfficialAccountApi:
    """The Official Account's outbound API: customer-service messages."""

    def __init__(
        self, app_id: str, app_secret: str, api_base_url: str = DEFAULT_API_BASE_URL,
        shared_token: Optional[SharedTokenStore] = None,
    ) -> None:
        self.client = OfficialAccountClient(app_id, app_secret, api_base_url, shared_token=shared_token)

    async def send_text(self, user_id: str, text: str) -> None:
        await call_off_loop(self.client.token_owner, lambda: self.client.message.send_text(user_id, text))

    async def send_typing(self, user_id: str, typing: bool) -> None:
        """``message/custom/typing``: "正在输入" in the follower's chat, or its end.

        WeChat accepts it only within a short time of a message exchanged with the
        follower and shows it for at most 15 seconds; outside that it answers an errcode
        (raised as ``WeChatClientException``)."""
        command = {"touser": user_id, "command": "Typing" if typing else "CancelTyping"}
        await call_off_loop(self.client.token_owner, lambda: self.client.post("message/custom/typing", data=command))


class WeChatInput(CallbackInput):
    """Rasa input channel for a WeChat Official Account (see ``credentials.example.yml``).

    Callback URL to configure in the WeChat admin console:
    ``https://<public host>/webhooks/wechat/webhook``.
    """

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        if not all(
            credentials.get(key) for key in ("app_id", "app_secret", "token")
        ):
            cls.raise_missing_credentials_exception()
        aes_key = credentials.get("encoding_aes_key")
        if aes_key:
            check_aes_key(aes_key, "WECHAT_ENCODING_AES_KEY")
        else:
            logger.warning(
                "WeChat runs in plaintext mode (no WECHAT_ENCODING_AES_KEY): a captured callback URL can "
                "be replayed with another body for 5 minutes. Use safe mode outside development."
            )
        settings = get_settings()
        return cls(
            token=credentials["token"],
            api=OfficialAccountApi(
                credentials["app_id"],
                credentials["app_secret"],
                credentials.get("api_base_url") or DEFAULT_API_BASE_URL,
                shared_token=shared_token_store(settings, f"wechat:{credentials['app_id']}"),
            ),
            state=channel_state(settings),
            crypto=WeChatCrypto(credentials["token"], aes_key, credentials["app_id"]) if aes_key else None,
            reply_timeout=float(credentials.get("reply_timeout") or DEFAULT_REPLY_TIMEOUT),
            greeting_payload=credentials.get("subscribe_payload") or CallbackInput.greeting_payload,
        )

    def __init__(
        self,
        token: str,
        api: OfficialAccountApi,
        crypto: Optional[WeChatCrypto],
        reply_timeout: float = DEFAULT_REPLY_TIMEOUT,
        greeting_payload: str = CallbackInput.greeting_payload,
        state: Optional[KeyValueState] = None,
    ) -> None:
        self.api = api
        self.callbacks: OfficialAccountCallbacks = OfficialAccountCallbacks(token, crypto)
        self.greeting_payload = greeting_payload
        self.turns = TurnRegistry(CHANNEL_NAME, api, reply_timeout, state=state)

    def _health(self) -> Dict[str, Any]:
        return {"status": "ok", "safe_mode": self.callbacks.crypto is not None}

    async def show_staff_typing(self, sender_id: str, typing: bool) -> bool:
        """WeChat's own "正在输入" while staff write (:mod:`bot.channels.typing`); False
        when WeChat refuses it (the follower's last message is too long ago)."""
        try:
            await self.api.send_typing(channel_user_id(sender_id, CHANNEL_NAME), typing)
        except WeChatClientException as refused:
            logger.info("WeChat did not show staff typing to %s: errcode %s", sender_id, refused.errcode)
            return False
        return True

    async def _answer(self, callback: Callback) -> HTTPResponse:
        message = callback.message
        meaning = incoming_text(message, self.greeting_payload)
        if meaning.text is None:
            reply = await immediate_reply(meaning, CHANNEL_NAME, message.source)
        else:
            metadata = {"openid": message.source, "msg_type": message.type}
            reply = await self.turns.answer(dedupe_key(message), message.source, meaning.text, metadata)
        if reply is None:
            return response.text("success")
        return response.text(self.callbacks.reply_xml(callback, reply), content_type="application/xml")
