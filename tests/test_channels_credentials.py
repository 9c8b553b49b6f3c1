"""Channels with secrets are enabled from environment variables, never from the repo."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.settings import CHANNEL_FIELDS, Settings, SettingsError, env_name

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TELEGRAM = "bot.channels.telegram.TelegramInput"
WECHAT, WECOM = "bot.channels.wechat.WeChatInput", "bot.channels.wechat.WeComInput"


def credentials(environ):
    return Settings.from_environ(environ).channel_credentials()


def test_no_variables_enable_no_channel() -> None:
    assert credentials({"PATH": "/usr/bin"}) == {}


def test_set_variables_enable_their_channels_only() -> None:
    assert credentials(
        {
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "TELEGRAM_WEBHOOK_SECRET": "s3cret",
            "WECHAT_APP_ID": "wx1",
            "WECHAT_APP_SECRET": "secret",
            "WECHAT_TOKEN": "tok",
            "WECHAT_ENCODING_AES_KEY": "",  # empty counts as unset: plaintext mode
        }
    ) == {
        TELEGRAM: {"token": "123:abc", "webhook_secret": "s3cret"},
        WECHAT: {"app_id": "wx1", "app_secret": "secret", "token": "tok"},
    }


def test_a_half_configured_channel_names_what_is_missing() -> None:
    with pytest.raises(SettingsError, match="WECOM_AGENT_ID.*WECOM_ENCODING_AES_KEY"):
        credentials({"WECOM_CORP_ID": "ww1", "WECOM_CORP_SECRET": "s", "WECOM_TOKEN": "t"})


def test_the_example_documents_every_variable_and_credentials_yml_holds_no_secret() -> None:
    example = (PROJECT_ROOT / "credentials.example.yml").read_text(encoding="utf-8")
    documented = set(re.findall(r"\$\{(\w+)\}", example))
    every_variable = {env_name(name) for fields in CHANNEL_FIELDS.values() for name, _, _ in fields}
    assert documented == every_variable
    assert set(CHANNEL_FIELDS) == {TELEGRAM, WECHAT, WECOM}
    configured = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8"))
    assert not set(CHANNEL_FIELDS) & set(configured)
