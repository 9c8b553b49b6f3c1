"""Credentials of the secret-bearing channels (Telegram, WeChat, WeCom) from env vars.

Rasa's ``credentials.yml`` substitutes ``${VAR}`` but fails when a variable is unset,
so ``credentials.yml`` lists only channels without secrets and ``python -m bot run``
adds the entries returned by :func:`channel_credentials_from_env` to a generated
credentials file under ``var/``. A channel is enabled when its required variables are
set; ``credentials.example.yml`` documents every variable.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Tuple

TELEGRAM_CHANNEL_CLASS = "bot.channels.telegram.TelegramInput"
WECHAT_CHANNEL_CLASS = "bot.channels.wechat.WeChatInput"
WECOM_CHANNEL_CLASS = "bot.channels.wechat.WeComInput"

# (credentials key, env var, required?) per channel. A channel whose required
# variables are all set is enabled; one with only some of them set is a mistake
# worth stopping for.
CHANNEL_VARIABLES: Dict[str, Tuple[Tuple[str, str, bool], ...]] = {
    TELEGRAM_CHANNEL_CLASS: (
        ("token", "TELEGRAM_BOT_TOKEN", True),
        ("mode", "TELEGRAM_MODE", False),
        ("webhook_secret", "TELEGRAM_WEBHOOK_SECRET", False),
        ("webhook_url", "TELEGRAM_WEBHOOK_URL", False),
        ("api_base_url", "TELEGRAM_API_BASE_URL", False),
        ("poll_interval", "TELEGRAM_POLL_INTERVAL", False),
    ),
    WECHAT_CHANNEL_CLASS: (
        ("app_id", "WECHAT_APP_ID", True),
        ("app_secret", "WECHAT_APP_SECRET", True),
        ("token", "WECHAT_TOKEN", True),
        ("encoding_aes_key", "WECHAT_ENCODING_AES_KEY", False),
        ("api_base_url", "WECHAT_API_BASE_URL", False),
        ("reply_timeout", "WECHAT_REPLY_TIMEOUT", False),
    ),
    WECOM_CHANNEL_CLASS: (
        ("corp_id", "WECOM_CORP_ID", True),
        ("corp_secret", "WECOM_CORP_SECRET", True),
        ("agent_id", "WECOM_AGENT_ID", True),
        ("token", "WECOM_TOKEN", True),
        ("encoding_aes_key", "WECOM_ENCODING_AES_KEY", True),
        ("api_base_url", "WECOM_API_BASE_URL", False),
    ),
}


def channel_credentials_from_env(
    environ: Optional[Mapping[str, str]] = None,
) -> Dict[str, Dict[str, Any]]:
    """Return ``{channel class path: credentials}`` for every channel configured in env.

    Channels with none of their required variables set are left out. Raises
    ``ValueError`` naming the missing variables when a channel is half configured.
    """
    env = os.environ if environ is None else environ
    credentials: Dict[str, Dict[str, Any]] = {}
    for channel, variables in CHANNEL_VARIABLES.items():
        values = {key: env.get(var, "").strip() for key, var, _ in variables}
        required = [(key, var) for key, var, needed in variables if needed]
        missing = [var for key, var in required if not values[key]]
        if len(missing) == len(required):
            continue
        if missing:
            raise ValueError(f"{channel} is half configured: set {', '.join(missing)}")
        credentials[channel] = {key: value for key, value in values.items() if value}
    return credentials
