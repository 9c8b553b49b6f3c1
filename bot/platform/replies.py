"""Chat replies for match lists: plain text (WeChat, Telegram), buttons, card payloads.

Every list goes out as text *and* as a custom payload for widgets:
``{"type": "supplier_matches", "items": [...]}``, ``{"type": "expert_matches", ...}``
(and ``demand_matches`` for a registered product), items in rank order, ids being
the export's ids. Nothing here shows an expert's phone number or e-mail.

The sentences and fragments come from the catalogue (:mod:`bot.messages`); whole
fixed messages (clarifying questions) are responses in ``domain.yml``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from bot.language import ENGLISH
from bot.messages import DEFAULT_LANGUAGE, join_clauses, join_list, user_text
from bot.platform.english import english_label
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


def supplier_category_buttons(language: str = DEFAULT_LANGUAGE) -> List[Dict[str, str]]:
    """The categories offered when a supplier request names no product."""
    return [intent_button(english_label(text) if language == ENGLISH else title, "find_suppliers", match_text=text)
            for title, text in SUPPLIER_CLARIFY_OPTIONS]


def start_search_buttons(language: str = DEFAULT_LANGUAGE) -> List[Dict[str, str]]:
    """「找供应商」「找专家」: start a search when there is nothing to refine."""
    return [intent_button(user_text("button.find_suppliers", language), "find_suppliers", match_text="供应商"),
            intent_button(user_text("button.find_experts", language), "find_experts", match_text="专家")]


def expert_field_buttons(language: str = DEFAULT_LANGUAGE) -> List[Dict[str, str]]:
    """The fields offered when an expert request names no field."""
    return [intent_button(english_label(name) if language == ENGLISH else name, "find_experts", match_text=name)
            for name in EXPERT_CLARIFY_OPTIONS]


def supplier_reply(result: SupplierResult, language: str = DEFAULT_LANGUAGE) -> Reply:
    """The answer to a (non-vague) supplier request, in ``language``."""
    query = result.query
    criteria = query.describe(language)
    lines: List[str] = []
    if result.matches:
        first = query.page * PAGE_SIZE + 1
        lines.append(user_text("suppliers.found", language, total=result.total, criteria=criteria,
                               first=first, last=first + len(result.matches) - 1))
    elif query.page:
        lines.append(user_text("suppliers.all_listed", language, criteria=criteria))
    else:
        lines.append(user_text("suppliers.none", language, criteria=criteria) + join_clauses(result.notes, language))
    number = query.page * PAGE_SIZE
    for match in result.matches:
        number += 1
        lines.append(f"{number}. {match.name}\n   " + join_clauses(match.reasons, language))
    if result.cross_region:
        lines.append(user_text("suppliers.cross_region_heading", language))
        for match in result.cross_region:
            number += 1
            lines.append(f"{number}. {match.name}\n   " + join_clauses(match.reasons[1:], language))
    buttons = []
    if result.has_more:
        buttons.append(intent_button(user_text("button.more", language), "refine_matches", match_text="更多"))
    place = query.region or query.city
    if place and result.cross_region and not query.strict_location:
        if query.region:
            region = english_label(query.region) if language == ENGLISH else query.region
            title = user_text("button.only_region", language, region=region)
        else:
            title = user_text("button.only_local", language)
        only_here = f"只要{query.region or query.city}的"
        buttons.append(intent_button(title, "refine_matches", match_text=only_here))
    if "IATF 16949" not in query.certifications and result.items:
        buttons.append(intent_button(user_text("button.require_iatf", language), "refine_matches",
                                     match_text="要有IATF 16949"))
    if result.items:
        lines.append(user_text("suppliers.refine_hint", language))
    items = [m.payload_item() for m in result.items]
    return Reply("\n".join(lines), buttons, {"type": "supplier_matches", "items": items})


def expert_reply(result: ExpertResult, language: str = DEFAULT_LANGUAGE) -> Reply:
    """The answer to a (non-vague) expert request in ``language``; contact buttons, never contact data."""
    query = result.query
    criteria = query.describe(language)
    lines: List[str] = []
    if result.matches:
        lines.append(user_text("experts.found", language, criteria=criteria, total=result.total,
                               shown=len(result.matches)))
    else:
        lines.append(user_text("experts.none", language, criteria=criteria))
    for number, match in enumerate(result.matches, start=1):
        title = english_label(match.title) if language == ENGLISH else match.title
        line = user_text("experts.line", language, number=number, name=match.name, title=title,
                         organization=match.organization)
        lines.append(f"{line}\n   " + join_clauses(match.reasons, language))
    if query.exclude_organizations:
        lines.append(user_text("experts.avoided", language,
                               organizations=join_list(query.exclude_organizations, language)))
    buttons = [intent_button(user_text("button.contact_expert", language, name=m.name), "contact_expert",
                             expert_id=m.expert_id) for m in result.matches[:5]]
    if result.has_more:
        buttons.append(intent_button(user_text("button.next_batch", language), "refine_matches", match_text="更多"))
    if result.matches:
        lines.append(user_text("experts.privacy", language))
    items = [m.payload_item() for m in result.matches]
    return Reply("\n".join(lines), buttons, {"type": "expert_matches", "items": items})


def demand_matches_payload(matches: List[DemandMatch]) -> Dict[str, object]:
    """The ``demand_matches`` card payload (possibly with no items)."""
    return {"type": "demand_matches", "items": [m.payload_item() for m in matches]}


def demand_reply(matches: List[DemandMatch]) -> Reply:
    """Open demands that a newly registered product can serve (at least one; with none,
    the action sends the ``utter_no_matching_demands`` response)."""
    lines = [user_text("demands.heading")]
    for number, match in enumerate(matches, start=1):
        line = user_text("demands.line", number=number, title=match.title, buyer=match.buyer,
                         demand_id=match.demand_id)
        lines.append(f"{line}\n   " + join_clauses(match.reasons))
    return Reply("\n".join(lines), custom=demand_matches_payload(matches))
