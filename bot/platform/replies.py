"""Chat replies for match lists: plain text (WeChat, Telegram), buttons, card payloads.

Every list goes out as text *and* as a custom payload for widgets:
``{"type": "supplier_matches", "items": [...]}``, ``{"type": "expert_matches", ...}``
(and ``demand_matches`` for a registered product), items in rank order, ids being
the export's ids. Nothing here shows an expert's phone number or e-mail.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from bot.platform.matching import PAGE_SIZE, ExpertResult, SupplierResult
from bot.platform.publishing import DemandMatch

#: Categories offered when a supplier request names no product (title, text to search).
SUPPLIER_CLARIFY_OPTIONS = [
    ("轮毂/车轮", "轮毂"), ("制动系统", "制动系统"), ("转向系统", "转向系统"), ("动力电池", "动力电池"),
    ("驱动电机", "驱动电机"), ("汽车电子", "汽车电子"), ("线束", "线束"), ("芯片", "集成电路"),
    ("显示面板", "显示面板"), ("被动元件", "被动元件"),
]
#: Fields offered when an expert request names no field.
EXPERT_CLARIFY_OPTIONS = ["智能制造", "人工智能", "汽车工程", "集成电路", "新能源", "新材料", "信息技术", "人口健康"]


@dataclass
class Reply:
    """One bot message: text, optional buttons, optional custom payload."""

    text: str
    buttons: List[Dict[str, str]] = field(default_factory=list)
    custom: Optional[Dict[str, object]] = None


def intent_button(title: str, intent: str, **entities: str) -> Dict[str, str]:
    """A button that sends ``/intent{"entity": "value"}`` (short: Telegram allows 64 bytes)."""
    payload = f"/{intent}" + (json.dumps(entities, ensure_ascii=False, separators=(",", ":")) if entities else "")
    return {"title": title, "payload": payload}


def supplier_clarification() -> Reply:
    return Reply(
        "请问您要找哪类产品的供应商？可以直接说产品名称（例如「铝合金轮毂」「刹车卡钳」「电池包」），"
        "也可以点选下面的类别：",
        [intent_button(title, "find_suppliers", match_text=text) for title, text in SUPPLIER_CLARIFY_OPTIONS],
    )


def expert_clarification() -> Reply:
    return Reply(
        "请问您需要哪个领域或研究方向的专家？可以直接说（例如「工业机器人」「计算机视觉」），也可以点选：",
        [intent_button(field_name, "find_experts", match_text=field_name) for field_name in EXPERT_CLARIFY_OPTIONS],
    )


def supplier_contact_reply() -> Reply:
    """Companies' contact people are personal data: staff or the platform connect the two sides."""
    return Reply(
        "为保护企业联系人信息，联系方式不在对话中提供。您可以发布采购需求（匹配的供应商会与您联系），"
        "或输入「转人工」由工作人员为您对接。",
        [intent_button("发布采购需求", "publish_demand"), intent_button("转人工", "request_human")],
    )


def supplier_reply(result: SupplierResult) -> Reply:
    """The answer to a (non-vague) supplier request."""
    query = result.query
    criteria = query.describe()
    lines: List[str] = []
    if result.matches:
        first = query.page * PAGE_SIZE + 1
        lines.append(f"为您找到 {result.total} 家符合「{criteria}」的供应商，"
                     f"第 {first}–{first + len(result.matches) - 1} 家：")
    elif query.page:
        lines.append(f"「{criteria}」的供应商已经全部列出。")
    else:
        lines.append(f"没有找到符合「{criteria}」的供应商。" + ("；".join(result.notes) if result.notes else ""))
    number = query.page * PAGE_SIZE
    for match in result.matches:
        number += 1
        lines.append(f"{number}. {match.name}\n   " + "；".join(match.reasons))
    if result.cross_region:
        lines.append("跨区域可选（川渝协同配套）：")
        for match in result.cross_region:
            number += 1
            lines.append(f"{number}. {match.name}\n   " + "；".join(match.reasons[1:]))
    buttons = []
    if result.has_more:
        buttons.append(intent_button("更多", "refine_matches", match_text="更多"))
    place = query.region or (query.city and "当地")
    if place and result.cross_region and not query.strict_location:
        buttons.append(intent_button(f"只要{query.region}的" if query.region else "只要本地的",
                                     "refine_matches", match_text=f"只要{query.region or query.city}的"))
    if "IATF 16949" not in query.certifications and result.items:
        buttons.append(intent_button("要有IATF 16949", "refine_matches", match_text="要有IATF 16949"))
    if result.items:
        lines.append("可以继续筛选，例如「只要重庆的」「要有IATF 16949」「年产能10万件以上」，或说「更多」。")
    items = [m.payload_item() for m in result.items]
    return Reply("\n".join(lines), buttons, {"type": "supplier_matches", "items": items})


def expert_reply(result: ExpertResult) -> Reply:
    """The answer to a (non-vague) expert request; contact buttons, never contact data."""
    query = result.query
    criteria = query.describe()
    lines: List[str] = []
    if result.matches:
        lines.append(f"符合「{criteria}」且目前可接受邀请的专家共 {result.total} 位，为您推荐 {len(result.matches)} 位：")
    else:
        lines.append(f"暂时没有符合「{criteria}」且可接受邀请的专家，可以放宽条件再试。")
    for number, match in enumerate(result.matches, start=1):
        lines.append(f"{number}. {match.name}（{match.title}，{match.organization}）\n   " + "；".join(match.reasons))
    if query.exclude_organizations:
        lines.append("已按回避原则排除：" + "、".join(query.exclude_organizations) + "及其相关单位。")
    buttons = [intent_button(f"联系{m.name}", "contact_expert", expert_id=m.expert_id) for m in result.matches[:5]]
    if result.has_more:
        buttons.append(intent_button("换一批", "refine_matches", match_text="更多"))
    if result.matches:
        lines.append("为保护隐私，专家的联系方式不在对话中提供；点「联系」后由工作人员为您安排对接。")
    items = [m.payload_item() for m in result.matches]
    return Reply("\n".join(lines), buttons, {"type": "expert_matches", "items": items})


def demand_reply(matches: List[DemandMatch]) -> Reply:
    """Open demands that a newly registered product can serve."""
    if not matches:
        return Reply("目前没有与您产品匹配的公开采购需求；有新需求时工作人员会与您联系。",
                     custom={"type": "demand_matches", "items": []})
    lines = ["以下公开采购需求与您的产品匹配："]
    for number, match in enumerate(matches, start=1):
        lines.append(f"{number}. {match.title}（{match.buyer}，编号 {match.demand_id}）\n   " + "；".join(match.reasons))
    return Reply("\n".join(lines), custom={"type": "demand_matches", "items": [m.payload_item() for m in matches]})
