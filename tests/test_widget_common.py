"""The channel helpers every channel shares, and the widget's message format.

These are the conventions other parts rely on: the console marks staff replies with
``staff_reply_event`` and each channel must recognise them; sender ids of different
channels must never coincide; live messages and the history must give one message
the same id, or the widget would show a reply twice after a reconnect.
"""
from __future__ import annotations

from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from bot.channels.common import (
    checked_user_text,
    invalid_text_in,
    is_valid_channel_user_id,
    namespaced_sender_id,
    rejection_for_user_text,
    split_sender_id,
    staff_name_of,
    staff_reply_event,
)
from bot.channels.socketio import widget_history, widget_message
from bot.messages import user_text
from bot.settings import get_settings


def test_sender_ids_of_two_channels_never_coincide():
    web = namespaced_sender_id("web", "12345")
    telegram = namespaced_sender_id("telegram", "12345")
    assert web != telegram
    assert split_sender_id(web) == ("web", "12345")
    assert split_sender_id("plain-rest-id") == (None, "plain-rest-id")


def test_sender_id_refuses_what_could_collide():
    for prefix, user in (("web", ""), ("", "1"), ("we:b", "1")):
        try:
            namespaced_sender_id(prefix, user)
        except ValueError:
            continue
        raise AssertionError(f"accepted {prefix!r}, {user!r}")


def test_staff_reply_is_recognised_from_the_message_rasa_delivers():
    event = BotUttered(
        text="您好，我是市经信局的王老师", metadata=staff_reply_event("x", "王老师")["metadata"]
    )
    message = event.message()  # what Rasa hands the output channel
    assert staff_name_of(message) == "王老师"
    assert staff_name_of(BotUttered(text="机器人回复").message()) is None


def test_widget_marks_staff_messages_and_keeps_buttons_and_cards():
    staff = widget_message(BotUttered(text="稍等，我来查", metadata={"from_staff": True, "staff_name": "李"}).message())
    assert staff["role"] == "staff" and staff["staff_name"] == "李"
    cards = {"type": "supplier_matches", "items": [{"company_id": "C1", "name": "重庆某轮毂公司"}]}
    bot = widget_message(
        BotUttered(
            text="为您找到以下供应商",
            data={"buttons": [{"title": "发布需求", "payload": "/publish_demand"}], "custom": cards},
        ).message()
    )
    assert bot["role"] == "bot"
    assert bot["buttons"] == [{"title": "发布需求", "payload": "/publish_demand"}]
    assert bot["custom"] == cards


def test_history_gives_live_messages_the_same_id_and_hides_payloads():
    reply = BotUttered(text="答复", data={"custom": {"type": "expert_matches", "items": []}})
    events = [
        UserUttered("/greet", message_id="a" * 32),  # the widget's opening payload
        ActionExecuted("utter_greet"),
        UserUttered("/list_policies", message_id="b" * 32, metadata={"display_text": "了解合作政策"}),
        UserUttered("政策有哪些", message_id="c" * 32),
        reply,
    ]
    history = widget_history(events, limit=10)
    assert [m["role"] for m in history] == ["user", "user", "bot"]
    assert history[0]["text"] == "了解合作政策"  # the button title the user chose
    assert history[1] == {**history[1], "id": "c" * 32, "text": "政策有哪些"}
    assert history[2]["id"] == widget_message(reply.message())["id"]
    assert widget_history(events, limit=1) == history[-1:]


def test_rejections_are_clear_and_only_for_bad_input():
    limit = get_settings().max_user_message_chars
    assert rejection_for_user_text("川渝联合研发项目支持哪些领域") is None
    assert rejection_for_user_text("字" * limit) is None
    assert "为空" in rejection_for_user_text("   ")
    too_long = rejection_for_user_text("字" * (limit + 1))
    assert str(limit) in too_long and "过长" in too_long


def test_text_that_cannot_be_stored_is_refused_and_control_characters_removed():
    assert checked_user_text("\u4f60\ud800") == ("", user_text("input.invalid_characters"))
    assert checked_user_text("\udfff") == ("", user_text("input.invalid_characters"))
    assert checked_user_text("\x00\x1b[1m你好\x7f\u0085") == ("[1m你好", None)
    assert checked_user_text("第一行\n第二行\t") == ("第一行\n第二行\t", None)
    assert checked_user_text("\x00\x01") == ("", user_text("input.empty"))
    assert checked_user_text(12345) == ("", user_text("input.empty"))
    assert invalid_text_in({"a": ["ok", {"\ud800": 1}]}) and invalid_text_in({"a": "\x00"})
    assert not invalid_text_in({"页面": "/portal/", "n": [1, 2.5, None, True]})
    deep: object = "x"
    for _ in range(50):
        deep = [deep]
    assert invalid_text_in(deep)  # nothing real nests this deep


def test_channel_user_ids_are_bounded_and_plain():
    for valid in ("12345", "-1001234567890", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "zhang.san@corp", "a~b:c"):
        assert is_valid_channel_user_id(valid), valid
    for invalid in ("", "x" * 129, "a b", "a/b", "a%2F", "a,b", "张三", "a\x00", "\ud800", "a\nb", None, 42):
        assert not is_valid_channel_user_id(invalid), invalid
        try:
            namespaced_sender_id("web", invalid)  # type: ignore[arg-type]
        except ValueError:
            continue
        raise AssertionError(f"{invalid!r} named a conversation")
