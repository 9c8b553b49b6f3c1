"""WeChat channels: the Official Account (微信公众号) and WeCom (企业微信), on wechatpy.

The two platforms share most of their machinery, kept here once:

* :mod:`~bot.channels.wechat.access_token` — the one owner of an access token, and the
  wechatpy clients that use it (calls run off the event loop);
* :mod:`~bot.channels.wechat.callback` — the signed-callback pipeline (verify →
  decrypt → parse) and the input channel routes both build on;
* :mod:`~bot.channels.wechat.turns` — one Rasa turn per message however often it is
  delivered, passive reply or push through the message API, numbered menus;
* :mod:`~bot.channels.wechat.official_account` — :class:`WeChatInput`;
* :mod:`~bot.channels.wechat.wecom` — :class:`WeComInput`.

``credentials.yml`` names them ``bot.channels.wechat.WeChatInput`` and
``bot.channels.wechat.WeComInput``.
"""
from bot.channels.wechat.official_account import WeChatInput
from bot.channels.wechat.wecom import WeComInput

__all__ = ["WeChatInput", "WeComInput"]
