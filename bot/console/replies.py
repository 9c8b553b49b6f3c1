"""JSON in and out of the console API: one shape for answers and errors (Chinese text
kept readable), one check for request bodies."""
from __future__ import annotations

import json
from typing import Any, Dict, Iterator

from aiohttp import web

from bot.channels.common import has_lone_surrogates


def json_reply(data: Any, status: int = 200) -> web.Response:
    """``data`` as JSON, Chinese unescaped."""
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def error_reply(message: str, status: int) -> web.Response:
    """``{"error": message}`` with ``status``."""
    return json_reply({"error": message}, status)


async def json_object(request: web.Request) -> Dict[str, Any]:
    """The request body, which must be a JSON object (else 400 with the reason)."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "需要 JSON 对象"}', content_type="application/json")
    if any(isinstance(v, str) and has_lone_surrogates(v) for v in _strings(body)):
        # would fail in the database and on every channel
        raise web.HTTPBadRequest(text='{"error": "内容含有无法识别的字符"}', content_type="application/json")
    return body


def _strings(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    else:
        yield value


__all__ = ["json_reply", "error_reply", "json_object"]
