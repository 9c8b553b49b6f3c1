"""The handoff summary at the top of a transcript: what staff need before replying.

What the user asked (their latest questions, with the recognised intent and its
confidence), what the assistant already did for them (the actions it answered with:
policy answers, match lists, forms), the slots it filled (policy entry, region,
product, quantities…), and why the conversation was handed over.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

import sqlalchemy as sa

from bot.db import DirectStatement
from bot.handoff.privacy import mask_personal_data
from bot.handoff.schema import conversations
from bot.handoff.transactions import Transactions

#: Slots worth showing staff, with their Chinese names.
SUMMARY_SLOTS = {
    "policy_id": "政策条目",
    "match_text": "查找的产品",
    "expert_id": "专家",
    "place": "地区",
    "certification": "认证",
    "demand_product": "需求产品",
    "demand_quantity": "需求数量",
    "demand_region": "需求地区",
    "product_company": "企业",
    "product_name": "登记产品",
    "product_region": "产品地区",
    "product_capacity": "年产能",
}
#: What the assistant's answer actions did, in staff's words.
ACTION_LABELS = {
    "action_answer_policy": "回答政策问题",
    "action_list_policies": "列出政策",
    "action_find_suppliers": "推荐供应商",
    "action_find_experts": "推荐专家",
    "action_refine_matches": "筛选匹配结果",
    "action_fallback": "未能理解",
    "utter_out_of_scope": "超出服务范围",
    "demand_form": "填写需求表单",
    "product_form": "填写产品登记表单",
}
REASON_LABELS = {
    "user_request": "用户要求转人工",
    "fallback": "助手连续未能理解",
    "action_error": "助手处理出错",
    "staff_initiated": "工作人员主动接入",
}
QUESTIONS_SHOWN = 5
_SET_SLOTS = DirectStatement(
    conversations.update()
    .where(conversations.c.sender_id == sa.bindparam("conversation"))
    .values(slots=sa.bindparam("new_slots"))
)


def summarise(
    transcript: Sequence[Mapping[str, Any]], handoff: Optional[Mapping[str, Any]], slots: Mapping[str, Any]
) -> Dict[str, Any]:
    """The summary of one conversation from its transcript, its latest handoff and slots."""
    until = handoff["requested_at"] if handoff else None
    asked = [
        m
        for m in transcript
        if m["kind"] == "user" and not str(m["text"]).startswith("/") and (until is None or m["at"] <= until + 1)
    ]
    done: List[str] = []
    for m in asked:
        label = ACTION_LABELS.get(m.get("next_action") or "")
        if label and label not in done:
            done.append(label)
    return {
        "reason": REASON_LABELS.get(handoff["reason"], handoff["reason"]) if handoff else None,
        "team": handoff.get("team") if handoff else None,
        "questions": [
            {
                "text": m["text"],
                "intent": m.get("intent"),
                "confidence": m.get("confidence"),
                "unanswered": bool(m.get("unanswered"))
                or m.get("next_action") in ("action_fallback", "utter_out_of_scope"),
            }
            for m in asked[-QUESTIONS_SHOWN:]
        ],
        "assistant_did": done,
        "slots": [
            {"name": SUMMARY_SLOTS[name], "value": mask_personal_data(str(value))}
            for name, value in slots.items()
            if name in SUMMARY_SLOTS and value not in (None, "", [])
        ],
    }


class SummaryStore(Transactions):
    """The slots a conversation filled, kept for its summary (:func:`summarise`)."""

    def set_slot(
        self, sender_id: str, name: str, value: Any, at: float, conversation: Optional[Dict[str, Any]] = None
    ) -> Optional[Dict[str, Any]]:
        """Remember a slot staff care about (others are ignored); the conversation row as
        it is now, None when nothing was stored. ``conversation``: the row as the batch in
        progress left it, when the caller knows it (not read again)."""
        if name not in SUMMARY_SLOTS:
            return None
        from bot.handoff.lifecycle import ensure_conversation

        with self.transaction() as conn:
            row = conversation if conversation is not None else ensure_conversation(conn, sender_id, at)
            slots = json.loads(row.get("slots") or "{}")
            if value in (None, "", []):
                slots.pop(name, None)
            else:
                plain = isinstance(value, (str, int, float, bool))
                slots[name] = value if plain else json.dumps(value, ensure_ascii=False)
            stored = json.dumps(slots, ensure_ascii=False)[:4000]
            _SET_SLOTS.rowcount(conn, {"conversation": sender_id, "new_slots": stored})
            return {**row, "slots": stored}


__all__ = ["summarise", "SummaryStore", "SUMMARY_SLOTS"]
