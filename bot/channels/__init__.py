"""Rasa input channels of the assistant: web widget, Telegram, WeChat, WeCom.

Channels with secrets are configured from the environment (``bot.settings``,
``Settings.channel_credentials``); ``credentials.example.yml`` documents each variable.
"""
