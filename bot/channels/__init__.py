"""Rasa input channels of the assistant: web widget, Telegram, WeChat, WeCom."""
from bot.channels.credentials import channel_credentials_from_env

__all__ = ["channel_credentials_from_env"]
