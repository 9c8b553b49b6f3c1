"""The catalogue of user-facing texts that ``domain.yml`` cannot hold.

Whole messages an action sends are responses in ``domain.yml`` (Rasa's convention:
``dispatcher.utter_message(response="utter_…", var=…)``). What is left lives here,
keyed, in one place:

* sentences the channels send themselves (refusals, "not supported" notices, the
  numbered-menu prompt, the staff marker) and the notices of the staff console;
* fragments that code composes into a larger message (match-list headings and the
  reasons given for each match, the criteria a request was read as, error reasons).

Each key maps a language code to a ``str.format`` template. :func:`user_text` picks the
text of a language and fills in its values; a key without a text in that language
falls back to Chinese, the default. To add a language, add its code to
:data:`LANGUAGES` and its text beside the Chinese one under every key; a test checks
that every key has a text in every language of :data:`LANGUAGES`, that the
translations use the same placeholders, and that every key used in code exists.
"""
from __future__ import annotations

import string
from typing import Any, Dict, Iterable, Mapping, Set

#: The language of every user unless a channel or the conversation says otherwise.
DEFAULT_LANGUAGE = "zh"
#: The languages every key must have a text in.
LANGUAGES = ("zh", "en")

CATALOGUE: Mapping[str, Mapping[str, str]] = {
    # --- lists ----------------------------------------------------------------------
    "list.separator": {"zh": "、", "en": ", "},
    "list.clause_separator": {"zh": "；", "en": "; "},
    "list.or_separator": {"zh": "或", "en": " or "},
    # --- what any channel says about a message it cannot pass on --------------------
    "input.empty": {"zh": "消息内容为空，请输入您的问题。", "en": "Your message is empty; please type your question."},
    "input.too_long": {
        "zh": "消息过长（{length} 字），请精简到 {limit} 字以内后再发送。",
        "en": (
            "Your message is too long ({length} characters); please shorten it to at most {limit} characters and "
            "send it again."
        ),
    },
    "input.malformed": {"zh": "消息格式不正确。", "en": "The message is not in a format I can read."},
    "input.text_only": {
        "zh": "目前只能处理文字消息，请用文字描述您的问题。",
        "en": "I can only handle text messages for now; please describe your question in words.",
    },
    "input.payload_not_offered": {
        "zh": "请直接用文字描述您的问题，或点击最新消息中的按钮。",
        "en": "Please describe your question in words, or press a button of the latest message.",
    },
    "input.payload_while_staff": {
        "zh": "工作人员正在为您服务，请直接输入文字与工作人员沟通。",
        "en": "A member of staff is looking after you; please type your message to them in words.",
    },
    "input.invalid_characters": {
        "zh": "消息中含有无法识别的字符（乱码或控制字符），请检查后重新输入。",
        "en": (
            "Your message contains characters I cannot read (garbled or control characters); please check it and "
            "type it again."
        ),
    },
    "service.busy": {
        "zh": "抱歉，服务暂时繁忙，暂时无法处理您的请求，请稍后再试。",
        "en": "Sorry, the service is busy and cannot handle your request right now; please try again in a moment.",
    },
    "channel.turn_failed": {
        "zh": "抱歉，系统暂时出错，请稍后再试。",
        "en": "Sorry, something went wrong on our side; please try again in a moment.",
    },
    "channel.unavailable": {
        "zh": "助手暂时无法回复（服务正在恢复），请过几秒再发送一次。",
        "en": (
            "The assistant cannot reply right now (the service is recovering); please send your message again "
            "in a few seconds."
        ),
    },
    # --- text-only channels (Telegram, WeChat, WeCom) -------------------------------
    "menu.reply_with_number": {"zh": "请回复数字选择：", "en": "Reply with a number to choose:"},
    "menu.choose": {"zh": "请选择：", "en": "Please choose:"},
    "telegram.button_expired": {
        "zh": "这个按钮已失效或无法识别，请直接输入您的问题，或发送 /start 重新开始。",
        "en": "This button has expired or is not recognised; please type your question, or send /start to begin again.",
    },
    # --- the web widget --------------------------------------------------------------
    "widget.session_missing": {
        "zh": "会话尚未建立或已失效，请刷新页面后重试。",
        "en": "The conversation has not started or has expired; please reload the page and try again.",
    },
    "widget.turn_failed": {
        "zh": "抱歉，系统暂时出现问题，您的消息已记录，请稍后再试或联系工作人员。",
        "en": (
            "Sorry, something went wrong on our side. Your message has been recorded; please try again later "
            "or contact staff."
        ),
    },
    # --- staff messages, on every channel --------------------------------------------
    "staff.default_name": {"zh": "工作人员", "en": "Staff"},
    "staff.marker": {"zh": "【人工客服 · {name}】", "en": "[Staff · {name}]"},
    "staff.waiting_notice": {
        "zh": "已收到您的消息，工作人员会尽快回复您，请稍候。",
        "en": "We have received your message; a member of staff will reply as soon as possible.",
    },
    "staff.takeover_greeting": {
        "zh": "您好，工作人员已接入，现在由人工为您服务。",
        "en": "Hello, a member of staff has joined and is now looking after you.",
    },
    "staff.hand_back_notice": {
        "zh": "人工服务已结束，智能助手将继续为您服务，您可以直接提问。",
        "en": "The staff service has ended; the assistant is back and you can keep asking questions.",
    },
    "staff.transfer_notice": {
        "zh": "已为您转接{name}，将继续为您服务。",
        "en": "You have been transferred to {name}, who will continue to help you.",
    },
    "staff.transfer_team_notice": {
        "zh": "正在为您转接{team}方面的工作人员，请稍候。",
        "en": "Transferring you to a member of staff for {team}; please wait a moment.",
    },
    "rating.request": {"zh": "请您为本次人工服务评价：", "en": "Please rate this staff service:"},
    "rating.thanks": {
        "zh": "感谢您的评价！如有意见或建议，可以直接回复，我们会转告工作人员。",
        "en": (
            "Thank you for your rating! If you have comments or suggestions, just reply and we will pass them on "
            "to the staff."
        ),
    },
    "rating.nothing_to_rate": {
        "zh": "这次评价已超出时限或已评价过，感谢您的反馈。",
        "en": "This rating is too late or has already been given; thank you for your feedback.",
    },
    "rating.invalid": {
        "zh": "评价格式不正确，请点击评价按钮。",
        "en": "The rating is not in a valid format; please press one of the rating buttons.",
    },
    "rating.failed": {
        "zh": "抱歉，评价暂时无法保存，请稍后再试。",
        "en": "Sorry, your rating could not be saved right now; please try again later.",
    },
    "staff.close_notice": {
        "zh": "本次人工服务已结束，感谢您的咨询。如有其他问题，欢迎随时提问。",
        "en": (
            "This staff conversation has ended; thank you for your enquiry. Ask me any time if you have other "
            "questions."
        ),
    },
    # --- policy answers ----------------------------------------------------------------
    "policy.title": {"zh": "【{title}】", "en": "[{title}]"},
    "policy.fact": {"zh": "• {fact}", "en": "• {fact}"},
    "policy.source": {"zh": "来源：{citation}", "en": "Source: {citation}"},
    "policy.citation": {"zh": "{name}（{authors}，{date}）", "en": "{name} ({authors}, {date})"},
    "policy.source_link": {"zh": "原文链接：{url}", "en": "Original text: {url}"},
    "policy.listed": {"zh": "是的，「{term}」在其中：", "en": "Yes, \"{term}\" is included:"},
    "policy.not_listed": {
        "zh": "已公开的材料中没有提到「{term}」，以下是这一项的内容：",
        "en": "The published material does not mention \"{term}\"; here is what this item says:",
    },
    # --- match lists as text (text-only channels render payloads with these) ----------
    "matches.supplier_heading": {"zh": "为您匹配到的供应商：", "en": "Matching suppliers:"},
    "matches.expert_heading": {"zh": "为您推荐的专家：", "en": "Recommended experts:"},
    "matches.none": {
        "zh": "暂时没有找到符合条件的结果，可以换个说法或放宽条件再试试。",
        "en": "Nothing matched yet; try other words or fewer conditions.",
    },
    "matches.unnamed": {"zh": "（未命名）", "en": "(unnamed)"},
    "matches.item_detail": {"zh": "第 {number} 家/位：{name}\n{details}", "en": "Number {number}: {name}\n{details}"},
    "matches.no_such_item": {
        "zh": "刚才的列表里没有第 {number} 个（当前列出 {count} 个）。",
        "en": "The last list has no number {number} ({count} are listed).",
    },
    "matches.name_with_place": {"zh": "{name}（{place}）", "en": "{name} ({place})"},
    # --- supplier answers --------------------------------------------------------------
    "suppliers.found": {
        "zh": "为您找到 {total} 家符合「{criteria}」的供应商，第 {first}–{last} 家：",
        "en": "Found {total} suppliers matching \"{criteria}\"; here are numbers {first}–{last}:",
    },
    "suppliers.all_listed": {
        "zh": "「{criteria}」的供应商已经全部列出，没有更多了。可以放宽条件再找。",
        "en": (
            "All suppliers matching \"{criteria}\" have been listed; there are no more. Try fewer conditions to "
            "find others."
        ),
    },
    "suppliers.more": {
        "zh": "继续列出符合「{criteria}」的供应商（共 {total} 家），第 {first}–{last} 家：",
        "en": "More suppliers matching \"{criteria}\" ({total} in all), numbers {first}–{last}:",
    },
    "suppliers.missing_product": {
        "zh": "平台数据中没有找到「{product}」的供应商。",
        "en": "The platform data has no supplier of \"{product}\".",
    },
    "suppliers.alternatives": {
        "zh": "以下 {count} 家供应的是相近产品（不是{product}），仅供参考：",
        "en": "These {count} suppliers offer similar products (not {product}), for reference only:",
    },
    "suppliers.unknown_product": {
        "zh": "平台数据中没有找到「{product}」的供应商，也没有相近的产品。",
        "en": "The platform data has no supplier of \"{product}\", nor of a similar product.",
    },
    "suppliers.deadline_note": {
        "zh": "平台数据不含交货周期，「{deadline}」交货需要与供应商确认。",
        "en": (
            "The platform data has no delivery times; delivery by \"{deadline}\" must be confirmed with the "
            "supplier."
        ),
    },
    "suppliers.none": {"zh": "没有找到符合「{criteria}」的供应商。", "en": "No supplier matches \"{criteria}\". "},
    "suppliers.cross_region_heading": {
        "zh": "跨区域可选（川渝协同配套）：",
        "en": "Options in the other region (Sichuan-Chongqing supply cooperation):",
    },
    "suppliers.refine_hint": {
        "zh": "可以继续筛选，例如「只要重庆的」「要有IATF 16949」「年产能10万件以上」，或说「更多」。",
        "en": "You can narrow the list, e.g. \"only in Chongqing\", \"with IATF 16949\", or say \"show more\".",
    },
    "suppliers.none_in_place": {"zh": "{place}暂无符合条件的供应商", "en": "no matching supplier in {place}"},
    "suppliers.reason.cross_region": {
        "zh": "跨区域推荐：位于{region}（川渝协同配套）",
        "en": "Other region: in {region} (Sichuan-Chongqing supply cooperation)",
    },
    "suppliers.reason.product": {"zh": "产品：{product}（{category}）", "en": "Product: {product} ({category})"},
    "suppliers.reason.alternative": {
        "zh": "相近产品，不是{requested}：平台上没有{requested}，{product}是最接近的",
        "en": "Similar product, not {requested}: the platform has no {requested}; {product} is the closest",
    },
    "suppliers.reason.keywords": {"zh": "符合：{keywords}", "en": "Matches: {keywords}"},
    "suppliers.reason.place": {"zh": "地点：{place}", "en": "Location: {place}"},
    "suppliers.reason.certifications": {"zh": "认证：{certifications}", "en": "Certifications: {certifications}"},
    "suppliers.reason.capacity": {"zh": "年产能：{capacity}{unit}", "en": "Annual capacity: {capacity} {unit}"},
    # --- expert answers ----------------------------------------------------------------
    "experts.found": {
        "zh": "符合「{criteria}」且目前可接受邀请的专家共 {total} 位，为您推荐 {shown} 位：",
        "en": "{total} available experts match \"{criteria}\"; I recommend these {shown}:",
    },
    "experts.unknown_field": {
        "zh": "专家库中没有找到「{field}」方向的专家。您可以换个说法，或从下面的领域中选择：",
        "en": "The expert database has no expert in \"{field}\". Try other words, or choose one of the fields below:",
    },
    "experts.all_listed": {
        "zh": "符合「{criteria}」的专家已经全部列出，没有更多了。",
        "en": "All experts matching \"{criteria}\" have been listed; there are no more.",
    },
    "experts.none": {
        "zh": "暂时没有符合「{criteria}」且可接受邀请的专家，可以放宽条件再试。",
        "en": "No available expert matches \"{criteria}\" yet; try fewer conditions.",
    },
    "experts.line": {
        "zh": "{number}. {name}（{title}，{organization}）",
        "en": "{number}. {name} ({title}, {organization})",
    },
    "experts.avoided": {
        "zh": "已按回避原则排除：{organizations}及其相关单位。",
        "en": "Excluded to avoid conflicts of interest: {organizations} and related organisations.",
    },
    "experts.privacy": {
        "zh": "为保护隐私，专家的联系方式不在对话中提供；点「联系」后由工作人员为您安排对接。",
        "en": (
            "To protect their privacy, experts' contact details are not given in the chat; press \"Contact\" and "
            "staff will arrange the contact."
        ),
    },
    "experts.reason.organization": {"zh": "单位：{organization}", "en": "Organisation: {organization}"},
    "experts.reason.research_areas": {"zh": "研究方向：{areas}", "en": "Research areas: {areas}"},
    "experts.reason.fields": {"zh": "领域：{fields}", "en": "Fields: {fields}"},
    "experts.reason.title": {"zh": "职称：{level}·{title}", "en": "Title: {level} · {title}"},
    "experts.reason.honors": {"zh": "荣誉：{honors}", "en": "Honours: {honors}"},
    "experts.reason.region": {"zh": "地区：{place}", "en": "Region: {place}"},
    "experts.reason.available": {
        "zh": "目前可接受邀请，已参与评审 {count} 次",
        "en": "Available for invitations; has reviewed {count} times",
    },
    # Refusals of a contact request: they never name the expert.
    "experts.unknown": {"zh": "这位专家已不在专家库中", "en": "This expert is no longer in the expert database"},
    "experts.unavailable": {
        "zh": "这位专家目前不接受邀请",
        "en": "This expert is not accepting invitations at the moment",
    },
    "experts.contact_avoided": {
        "zh": "按回避规则，不能为您联系与贵单位有关联的专家",
        "en": "Under the conflict-of-interest rules we cannot contact an expert related to your organisation for you",
    },
    # --- the criteria a request was read as ("铝合金轮毂、仅重庆、年产能≥10万") ---------
    "criteria.category": {"zh": "{category}类", "en": "{category} (category)"},
    "criteria.only_place": {"zh": "仅{place}", "en": "only {place}"},
    "criteria.min_capacity": {"zh": "年产能≥{capacity}{unit}", "en": "annual capacity ≥ {capacity} {unit}"},
    "criteria.exclude_place": {"zh": "不含{places}", "en": "not in {places}"},
    "criteria.deadline": {"zh": "{deadline}交货", "en": "delivery by {deadline}"},
    "criteria.gender": {"zh": "{gender}性", "en": "{gender}"},
    "criteria.avoid": {"zh": "回避{organizations}", "en": "avoiding {organizations}"},
    # --- open demands for a registered product ----------------------------------------
    "demands.heading": {
        "zh": "以下公开采购需求与您的产品匹配：",
        "en": "These open purchasing demands match your product:",
    },
    "demands.line": {
        "zh": "{number}. {title}（{buyer}，编号 {demand_id}）",
        "en": "{number}. {title} ({buyer}, number {demand_id})",
    },
    "demands.published_title": {"zh": "采购{product}", "en": "Purchase of {product}"},
    "demands.published_buyer": {"zh": "（经助手发布）", "en": "(published through the assistant)"},
    "demands.reason.same_product": {"zh": "需求产品与您的产品一致", "en": "The demand is for your product"},
    "demands.reason.same_category": {"zh": "同属 {category}", "en": "Same category: {category}"},
    "demands.reason.same_major": {"zh": "同属 {major} 大类", "en": "Same group: {major}"},
    "demands.reason.quantity": {"zh": "数量：{quantity}{unit}", "en": "Quantity: {quantity} {unit}"},
    "demands.reason.quantity_open": {"zh": "数量：面议", "en": "Quantity: to be agreed"},
    "demands.reason.region": {"zh": "地区要求：{region}", "en": "Region: {region}"},
    "demands.reason.deadline": {"zh": "截止：{deadline}", "en": "Deadline: {deadline}"},
    "demands.reason.no_deadline": {"zh": "截止：未定", "en": "Deadline: open"},
    # --- the summary of a demand or product before it is stored -------------------------
    "publishing.requirement.certification": {
        "zh": "需具备{certification}认证",
        "en": "{certification} certification required",
    },
    "publishing.summary.none": {"zh": "无", "en": "none"},
    # --- why a demand or product could not be stored ----------------------------------
    "publishing.product_missing": {"zh": "请说明需要采购的产品", "en": "please name the product you want to buy"},
    "publishing.quantity_not_positive": {"zh": "采购数量应为正数", "en": "the quantity must be a positive number"},
    "publishing.region_invalid": {
        "zh": "地区偏好应为 四川、重庆 或 不限",
        "en": "the region must be Sichuan, Chongqing or anywhere",
    },
    "publishing.deadline_past": {"zh": "截止日期不能早于今天", "en": "the deadline cannot be before today"},
    "publishing.buyer_contact_missing": {
        "zh": "请留下手机号、座机或邮箱，方便供应商联系",
        "en": "please leave a mobile number, landline or e-mail so that suppliers can contact you",
    },
    "publishing.product_name_missing": {"zh": "请说明产品名称", "en": "please name the product"},
    "publishing.company_missing": {"zh": "请说明企业名称", "en": "please give the company name"},
    "publishing.supplier_region_invalid": {
        "zh": "企业所在地应为 四川 或 重庆",
        "en": "the company must be in Sichuan or Chongqing",
    },
    "publishing.capacity_not_positive": {"zh": "年产能应为正数", "en": "the annual capacity must be a positive number"},
    "publishing.supplier_contact_missing": {
        "zh": "请留下手机号、座机或邮箱，方便采购方联系",
        "en": "please leave a mobile number, landline or e-mail so that buyers can contact you",
    },
    # --- button titles that code composes ---------------------------------------------
    "button.more": {"zh": "更多", "en": "More"},
    "button.other_product": {"zh": "不是，换个产品", "en": "No, another product"},
    "button.next_batch": {"zh": "换一批", "en": "Show others"},
    "button.only_region": {"zh": "只要{region}的", "en": "Only {region}"},
    "button.only_local": {"zh": "只要本地的", "en": "Only local ones"},
    "button.require_iatf": {"zh": "要有IATF 16949", "en": "With IATF 16949"},
    "button.contact_expert": {"zh": "联系{name}", "en": "Contact {name}"},
    "button.find_suppliers": {"zh": "找供应商", "en": "Find suppliers"},
    "button.find_experts": {"zh": "找专家", "en": "Find experts"},
}


def user_text(key: str, language: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """The text of ``key`` in ``language`` (Chinese if it has none), filled with ``values``.

    Raises ``KeyError`` for a key that is not in the catalogue.
    """
    texts = CATALOGUE[key]
    template = texts.get(language) or texts[DEFAULT_LANGUAGE]
    return template.format(**values)


def join_list(items: Iterable[str], language: str = DEFAULT_LANGUAGE) -> str:
    """``["重庆大学", "四川大学"]`` → ``重庆大学、四川大学`` (the language's list separator)."""
    return user_text("list.separator", language).join(items)


def join_clauses(items: Iterable[str], language: str = DEFAULT_LANGUAGE) -> str:
    """Join short clauses (a match's reasons) with the language's clause separator."""
    return user_text("list.clause_separator", language).join(items)


def placeholders(template: str) -> Set[str]:
    """The names a template fills in, e.g. ``{"length", "limit"}``."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def catalogue_problems(languages: Iterable[str] = LANGUAGES) -> Dict[str, str]:
    """``{key: problem}`` for keys missing a language or whose translations disagree
    on placeholders (empty when the catalogue is consistent)."""
    problems: Dict[str, str] = {}
    for key, texts in CATALOGUE.items():
        missing = [language for language in languages if not texts.get(language)]
        if missing:
            problems[key] = f"no text in {', '.join(missing)}"
            continue
        expected = placeholders(texts[DEFAULT_LANGUAGE])
        for language, template in texts.items():
            if placeholders(template) != expected:
                problems[key] = f"{language} fills {sorted(placeholders(template))}, not {sorted(expected)}"
    return problems
