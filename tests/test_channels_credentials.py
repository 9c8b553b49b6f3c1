"""Channels with secrets are enabled from environment variables, never from the repo."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.channels import channel_credentials_from_env
from bot.channels.credentials import (
    CHANNEL_VARIABLES,
    TELEGRAM_CHANNEL_CLASS,
    WECHAT_CHANNEL_CLASS,
    WECOM_CHANNEL_CLASS,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_no_variables_enable_no_channel() -> None:
    assert channel_credentials_from_env({"PATH": "/usr/bin"}) == {}


def test_set_variables_enable_their_channels_only() -> None:
    credentials = channel_credentials_from_env(
        {
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "TELEGRAM_WEBHOOK_SECRET": "s3cret",
            "WECHAT_APP_ID": "wx1",
            "WECHAT_APP_SECRET": "secret",
            "WECHAT_TOKEN": "tok",
            "WECHAT_ENCODING_AES_KEY": "",  # empty counts as unset: plaintext mode
        }
    )
    assert credentials == {
        TELEGRAM_CHANNEL_CLASS: {"token": "123:abc", "webhook_secret": "s3cret"},
        WECHAT_CHANNEL_CLASS: {"app_id": "wx1", "app_secret": "secret", "token": "tok"},
    }


def test_a_half_configured_channel_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="WECOM_AGENT_ID.*WECOM_ENCODING_AES_KEY"):
        channel_credentials_from_env(
            {"WECOM_CORP_ID": "ww1", "WECOM_CORP_SECRET": "s", "WECOM_TOKEN": "t"}
        )


def test_the_example_documents_every_variable_and_credentials_yml_holds_no_secret() -> None:
    example = (PROJECT_ROOT / "credentials.example.yml").read_text(encoding="utf-8")
    documented = set(re.findall(r"\$\{(\w+)\}", example))
    every_variable = {
        variable for variables in CHANNEL_VARIABLES.values() for _, variable, _ in variables
    }
    assert documented == every_variable
    configured = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8"))
    assert not {TELEGRAM_CHANNEL_CLASS, WECHAT_CHANNEL_CLASS, WECOM_CHANNEL_CLASS} & set(configured)
