"""Hostile and malformed messages get a sensible reply, and the conversation goes on."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.helpers import send_rest

BAD_MESSAGES = {
    "empty": ("", "消息内容为空"),
    "whitespace": ("   \t\n  ", "消息内容为空"),
    "10,000 characters": ("川渝" * 5000, "消息过长"),
    "emoji only": ("😀😀🚗🚗", None),
    "control characters": ("\x00\x07\x1b[31m请问\u200b发展基金\x7f", None),
    "html and script": ("<script>alert('x')</script><img src=x onerror=alert(1)>", None),
    "sql-looking": ("'; DROP TABLE events; -- OR 1=1", None),
}


@pytest.mark.parametrize("name", list(BAD_MESSAGES))
def test_bad_input_gets_a_reply_and_the_conversation_goes_on(assistant, name):
    text, expected = BAD_MESSAGES[name]
    sender = f"bad-input-{name.replace(' ', '-')}"
    replies = send_rest(assistant, sender, text)
    reply_text = "\n".join(m.get("text") or "" for m in replies)
    assert reply_text.strip(), f"no reply to {name}"
    if expected:
        assert expected in reply_text
    assert "<script>" not in reply_text and "DROP TABLE" not in reply_text

    follow_up = send_rest(assistant, sender, "双城经济圈发展基金规模有多大")
    assert "300亿元" in "\n".join(m.get("text") or "" for m in follow_up)


def test_non_text_message_field_is_refused_clearly(assistant):
    replies = send_rest(assistant, "bad-input-number", 12345)
    assert "消息内容为空" in replies[0]["text"]


def test_malformed_json_is_a_client_error_not_a_crash(assistant):
    request = urllib.request.Request(
        f"{assistant.web_url}/webhooks/rest/webhook",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert 400 <= error.value.code < 500
    replies = send_rest(assistant, "bad-input-after-json", "你好")
    assert any("产业合作助手" in (m.get("text") or "") for m in replies)
