"""Handoff triggers in the running assistant: asking for a person, and two messages in
a row the assistant cannot handle. Whether staff are on duty right now decides the
wording (queue place or office hours), never whether the request is kept."""
from __future__ import annotations

import secrets

from bot.handoff.store import HandoffStore
from tests.helpers import send_rest

QUEUED = "排在第"
AFTER_HOURS = "非工作时间"


def handoffs_of(assistant, sender: str):
    """The handoffs and console state of the REST caller ``sender`` (conversation ``rest:<sender>``)."""
    store = HandoffStore(f"sqlite:///{assistant.var_dir / 'handoff.db'}")
    try:
        return store.handoff_history(f"rest:{sender}"), store.get_conversation(f"rest:{sender}")
    finally:
        store.dispose()


def test_asking_for_a_person_queues_the_conversation(assistant):
    sender = f"rest-handoff-{secrets.token_hex(4)}"
    replies = send_rest(assistant, sender, "麻烦帮我找一下你们的工作人员")
    text = " ".join(r.get("text", "") for r in replies)
    assert QUEUED in text or AFTER_HOURS in text, text
    history, conversation = handoffs_of(assistant, sender)
    assert [h["reason"] for h in history] == ["user_request"]
    assert conversation["status"] == "waiting"


def test_two_misses_in_a_row_hand_over_to_staff(assistant):
    sender = f"rest-handoff-{secrets.token_hex(4)}"
    first = " ".join(r.get("text", "") for r in send_rest(assistant, sender, "qwxz plmk vbnr"))
    assert QUEUED not in first and AFTER_HOURS not in first  # one miss: just asks again
    second = " ".join(r.get("text", "") for r in send_rest(assistant, sender, "zzqv kkpl wwmx"))
    assert "没能帮上您" in second and (QUEUED in second or AFTER_HOURS in second), second
    history, conversation = handoffs_of(assistant, sender)
    assert [h["reason"] for h in history] == ["fallback"]
    assert conversation["status"] == "waiting"
