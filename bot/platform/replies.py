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
from typing import Any, Dict, List, Optional

from bot.language import ENGLISH
from bot.messages import DEFAULT_LANGUAGE, join_clauses, join_list, user_text
from bot.platform.english import english_label, english_place
from bot.platform.matching import ExpertResult, SupplierMatch, SupplierResult
from bot.platform.publishing import DemandMatch
from bot.platform.understanding import format_quantity, join_either, place_name

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
    """One answer: text, optional buttons, optional custom payload.

    A match list also has a ``heading`` (the count and the criteria, shown back in
    one line), its compact numbered ``lines`` and a closing ``hint``: channels
    with cards show heading, cards, hint; others the numbered text (see
    :func:`reply_messages`)."""

    text: str
    buttons: List[Dict[str, str]] = field(default_factory=list)
    custom: Optional[Dict[str, object]] = None
    heading: str = ""
    lines: List[str] = field(default_factory=list)
    hint: str = ""


#: Input channels that draw match lists as cards (the web widget).
CARD_CHANNELS = frozenset({"socketio"})


def reply_messages(reply: Reply, channel: Optional[str]) -> List[Dict[str, Any]]:
    """The bot messages (``text``, ``buttons``, ``custom``) that present ``reply`` on
    ``channel``, in order. The widget: the heading, the cards, then the hint with the
    buttons (under the cards, in view). Other channels: the compact numbered list as
    text with the buttons, and the payload after it for API clients (text channels drop
    a payload that follows its own text: bot/channels/textual.py)."""
    if channel in CARD_CHANNELS and reply.custom is not None:
        messages: List[Dict[str, Any]] = [{"text": reply.heading}, {"custom": reply.custom}]
        if reply.hint or reply.buttons:
            messages.append({"text": reply.hint or None, "buttons": reply.buttons or None})
        return messages
    messages = [{"text": reply.text, "buttons": reply.buttons or None}]
    if reply.custom is not None:
        messages.append({"custom": reply.custom})
    return messages


def intent_button(title: str, intent: str, **entities: str) -> Dict[str, str]:
    """A button that sends ``/intent{"entity": "value"}`` (short: Telegram allows 64 bytes)."""
    payload = f"/{intent}" + (json.dumps(entities, ensure_ascii=False, separators=(",", ":")) if entities else "")
    return {"title": title, "payload": payload}


def supplier_category_buttons(language: str = DEFAULT_LANGUAGE) -> List[Dict[str, str]]:
    """The categories offered when a supplier request names no product."""
    return [intent_button(_label(text, language) if language == ENGLISH else title, "find_suppliers",
                          match_text=text)
            for title, text in SUPPLIER_CLARIFY_OPTIONS]


def start_search_buttons(language: str = DEFAULT_LANGUAGE) -> List[Dict[str, str]]:
    """「找供应商」「找专家」: start a search when there is nothing to refine."""
    return [intent_button(user_text("button.find_suppliers", language), "find_suppliers", match_text="供应商"),
            intent_button(user_text("button.find_experts", language), "find_experts", match_text="专家")]


def did_you_mean_buttons(word: str, corrected_request: str, language: str = DEFAULT_LANGUAGE) -> List[Dict[str, str]]:
    """「轮毂」 (search the corrected request) and 「不是，换个产品」 (the category menu)."""
    return [intent_button(_label(word, language), "find_suppliers", match_text=corrected_request[:40]),
            intent_button(user_text("button.other_product", language), "find_suppliers", match_text="供应商")]


def expert_field_buttons(language: str = DEFAULT_LANGUAGE) -> List[Dict[str, str]]:
    """The fields offered when an expert request names no field."""
    return [intent_button(_label(name, language), "find_experts", match_text=name)
            for name in EXPERT_CLARIFY_OPTIONS]


def _label(term: str, language: str) -> str:
    """A term of the data as shown in ``language`` (English labels from the glossary)."""
    return english_label(term) if language == ENGLISH and term else term


def _supplier_line(match: SupplierMatch, language: str = DEFAULT_LANGUAGE) -> str:
    """「3. 重庆某某有限公司｜铝合金轮毂｜重庆 璧山区｜IATF 16949｜年产能 50万件」"""
    if language == ENGLISH:
        places = [english_place(p) for p in dict.fromkeys(p for p in (match.district, match.city) if p)]
        place = ", ".join(places) or english_place(match.region)
    else:
        place = " ".join(dict.fromkeys(p for p in (match.city, match.district) if p)) or match.region
    parts = [match.name, _label(match.product_name, language), place]
    if match.certifications:
        parts.append(join_list(match.certifications[:2], language))
    if match.annual_capacity:
        parts.append(user_text("suppliers.reason.capacity", language,
                               capacity=format_quantity(match.annual_capacity, language),
                               unit=_label(match.unit, language)))
    line = f"{match.number}. " + ("｜" if language != ENGLISH else " | ").join(parts)
    return f"{line}\n   {match.alternative_reason}" if match.alternative_reason and not match.cross_region else line


def supplier_reply(result: SupplierResult, language: str = DEFAULT_LANGUAGE) -> Reply:
    """The answer to a (non-vague) supplier request in ``language``: the criteria in one
    line, the page of suppliers numbered on from the previous page, refinement buttons."""
    query = result.query
    criteria = query.describe(language)
    first = result.first_number
    last = first + len(result.matches) - 1
    if query.missing_product:
        missing = _label(query.missing_product, language)
        heading = user_text("suppliers.missing_product", language, product=missing)
        if result.matches:
            heading += "\n" + user_text("suppliers.alternatives", language, count=len(result.matches),
                                         product=missing)
    elif result.matches and query.page == 0:
        heading = user_text("suppliers.found", language, total=result.total, criteria=criteria, first=first,
                            last=last)
    elif result.matches:
        heading = user_text("suppliers.more", language, total=result.total, criteria=criteria, first=first,
                            last=last)
    elif query.page:
        heading = user_text("suppliers.all_listed", language, criteria=criteria)
    else:
        heading = user_text("suppliers.none", language, criteria=criteria) + join_clauses(result.notes, language)
    if query.deadline:
        heading += "\n" + user_text("suppliers.deadline_note", language, deadline=query.deadline)
    lines = [_supplier_line(match, language) for match in result.matches]
    if result.cross_region:
        lines.append(user_text("suppliers.cross_region_heading", language))
        lines += [_supplier_line(match, language) for match in result.cross_region]
    buttons = []
    if result.has_more and not query.missing_product:
        buttons.append(intent_button(user_text("button.more", language), "refine_matches", match_text="更多"))
    places = [place_name(p) for p in query.places]
    if places and result.cross_region and not query.strict_location:
        if len(places) == 1 and query.region and not (query.city or query.district):
            title = user_text("button.only_region", language, region=_label(query.region, language))
        else:
            title = user_text("button.only_local", language)
        only_here = f"只要{join_either(places)}的"
        buttons.append(intent_button(title, "refine_matches", match_text=only_here))
    if "IATF 16949" not in query.certifications and result.items and not query.missing_product:
        buttons.append(intent_button(user_text("button.require_iatf", language), "refine_matches",
                                     match_text="要有IATF 16949"))
    hint = user_text("suppliers.refine_hint", language) if result.items and not query.missing_product else ""
    items = [m.payload_item() for m in result.items]
    custom: Optional[Dict[str, object]] = None
    if items:
        custom = {"type": "supplier_matches", "title": heading.split("\n")[0], "criteria": criteria,
                  "total": result.total, "first": first, "has_more": result.has_more, "items": items}
    text = "\n".join([heading, *lines, *([hint] if hint else [])])
    return Reply(text, buttons, custom, heading=heading, lines=lines, hint=hint)


def expert_reply(result: ExpertResult, language: str = DEFAULT_LANGUAGE) -> Reply:
    """The answer to a (non-vague) expert request in ``language``; contact buttons, never contact data."""
    query = result.query
    criteria = query.describe(language)
    first = query.page * query.count + 1
    if result.matches:
        heading = user_text("experts.found", language, criteria=criteria, total=result.total,
                            shown=len(result.matches))
    elif query.page:
        heading = user_text("experts.all_listed", language, criteria=criteria)
    else:
        heading = user_text("experts.none", language, criteria=criteria)
    lines = []
    for number, match in enumerate(result.matches, start=first):
        line = user_text("experts.line", language, number=number, name=match.name,
                         title=_label(match.title, language), organization=match.organization)
        lines.append(f"{line}\n   " + join_clauses(match.reasons, language))
    notes = []
    if query.exclude_organizations:
        notes.append(user_text("experts.avoided", language,
                               organizations=join_list(query.exclude_organizations, language)))
    if result.matches:
        notes.append(user_text("experts.privacy", language))
    buttons = [intent_button(user_text("button.contact_expert", language, name=m.name), "contact_expert",
                             expert_id=m.expert_id) for m in result.matches[:5]]
    if result.has_more:
        buttons.append(intent_button(user_text("button.next_batch", language), "refine_matches", match_text="更多"))
    items = [{**m.payload_item(), "number": number} for number, m in enumerate(result.matches, start=first)]
    custom: Optional[Dict[str, object]] = None
    if items:
        custom = {"type": "expert_matches", "title": heading, "criteria": criteria, "total": result.total,
                  "first": first, "has_more": result.has_more, "items": items}
    hint = "\n".join(notes)
    text = "\n".join([heading, *lines, *notes])
    return Reply(text, buttons, custom, heading=heading, lines=lines, hint=hint)


def demand_matches_payload(matches: List[DemandMatch]) -> Dict[str, object]:
    """The ``demand_matches`` card payload (possibly with no items)."""
    return {"type": "demand_matches", "items": [m.payload_item() for m in matches]}


def demand_reply(matches: List[DemandMatch], language: str = DEFAULT_LANGUAGE) -> Reply:
    """Open demands that a newly registered product can serve (at least one; with none,
    the action sends the ``utter_no_matching_demands`` response), in ``language``."""
    lines = [user_text("demands.heading", language)]
    for number, match in enumerate(matches, start=1):
        line = user_text("demands.line", language, number=number, title=match.title, buyer=match.buyer,
                         demand_id=match.demand_id)
        lines.append(f"{line}\n   " + join_clauses(match.reasons, language))
    return Reply("\n".join(lines), custom=demand_matches_payload(matches))
